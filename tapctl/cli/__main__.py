from tapctl.cli import main

main(prog_name="tapctl")
