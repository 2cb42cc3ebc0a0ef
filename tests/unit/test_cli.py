"""tapctl's command line: the entry point answers and stays light."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from tapctl import __version__
from tapctl.cli import main


def test_help_describes_the_pipeline():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "POST /webhook" in result.output


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert (result.exit_code, result.output.strip()) == (0, f"tapctl, version {__version__}")


def test_help_does_not_import_aws_sdk():
    code = "import sys; from tapctl.cli import main; assert 'boto3' not in sys.modules and 'botocore' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(("args", "said"), [
    (["replay", "--env", "dev", "--since", "2026-12-01", "--until", "2026-12-02"], "Missing option '--from-archive'"),
    (["archive", "list", "--env", "dev", "--since", "yesterday", "--until", "2026-12-02"], "'yesterday' is not a date"),
    (["replay", "--env", "dev", "--from-archive", "--since", "2026-12-02", "--until", "2026-12-01"],
     "--until 2026-12-01 is not after --since 2026-12-02"),
    (["archive", "list", "--env", "dev", "--since", "2026-12-01", "--until", "2026-12-02", "--type", "chargeback"],
     "Invalid value for '--type'"),
])
def test_an_archive_range_a_user_gets_wrong_is_one_line_and_exit_2(args, said):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and said in result.output, result.output
    assert "Traceback" not in result.output
