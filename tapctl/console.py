"""How tapctl speaks: progress lines on stderr (on a terminal one live line rewritten in place), results on
stdout as text or JSON."""

import json

import click


class _Console:
    """stderr: progress lines, and on a terminal one line rewritten in place (``live``)."""

    def __init__(self):
        self.width = 0  # of the live line now shown

    def line(self, text):
        self._clear()
        click.echo(text, err=True)

    def live(self, text):
        import shutil

        text = text[: shutil.get_terminal_size((120, 20)).columns - 1]
        click.echo("\r" + text.ljust(self.width), err=True, nl=False)
        self.width = len(text)

    def done(self):
        """End the live line where it stands (its last state stays on screen)."""
        if self.width:
            click.echo("", err=True)
            self.width = 0

    def _clear(self):
        if self.width:
            click.echo("\r" + " " * self.width + "\r", err=True, nl=False)
            self.width = 0


console = _Console()
progress = console.line


def live_line(settings):
    """The live line when stderr is a terminal and --verbose was not given; else None (every line)."""
    import sys

    return None if settings.verbose or not sys.stderr.isatty() else console.live


def emit(settings, data, text_lines):
    if settings.json_output:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        for line in text_lines:
            click.echo(line)
