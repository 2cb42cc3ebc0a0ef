"""tapctl's command line: the entry point answers and stays light."""

import subprocess
import sys

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
