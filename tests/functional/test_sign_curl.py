"""tapctl sign --curl sends the bytes it signed: the printed command, run by a real shell, hands curl
exactly the body, whatever it holds (a leading @, quotes, %, newlines, any text); what a shell cannot
carry exactly is sent from its file, or refused."""

import shlex
import subprocess

import pytest

from tapctl import signing

BODIES = [b'@/etc/passwd', b'{"a": "it\'s 100%s"}\n', b"-d x", "{\"n\": \"\u00e9\u2028\U0001f4b8\"}".encode(),
          b"\t\r\n", b"$(touch /tmp/tapctl-owned) `id` ${HOME}", b"\\x41\\n"]


def bytes_curl_reads(command):
    """What curl's --data-binary @- would read: the command before the pipe, run by sh."""
    producer, _, consumer = command.partition(" | ")
    assert shlex.split(consumer)[-2:] == ["--data-binary", "@-"]
    return subprocess.run(["sh", "-c", producer], capture_output=True, check=True).stdout


@pytest.mark.parametrize("body", BODIES)
def test_the_printed_command_pipes_exactly_the_signed_bytes(body):
    command = signing.curl_command("http://127.0.0.1:9/webhook", {"webhook-id": "msg_1"}, body, "<stdin>")
    assert bytes_curl_reads(command) == body


def test_a_body_a_shell_cannot_carry_is_sent_from_its_file_or_refused(tmp_path):
    body = b'{"a": "\xff"}'
    path = tmp_path / "event.json"
    path.write_bytes(body)
    command = signing.curl_command("http://127.0.0.1:9/webhook", {}, body, str(path))
    assert shlex.split(command)[-2:] == ["--data-binary", f"@{path}"]
    with pytest.raises(ValueError, match="not text a shell command can carry exactly"):
        signing.curl_command("http://127.0.0.1:9/webhook", {}, body, "<stdin>")
    with pytest.raises(ValueError):
        signing.curl_command("http://127.0.0.1:9/webhook", {}, b"a\0b", "<stdin>")
