"""What the local target's two sides share: the CLI side (tapctl.local.emulator, run by tapctl) and the
emulator's processes (tapctl.local.server and tapctl.local.aws). Standard library only, and little of it at
import (every tapctl command that names an environment imports this): boto3 and urllib are imported when
first used.
"""

import socket
import threading
import time

# The emulator's credentials. Every AWS call to it must be signed with this access key: a client holding
# real credentials reaches the emulator only by mistake, and is refused (tapctl.local.serving).
FAKE_KEY = "local"
HEALTH_PATH = "/_tapctl/health"


def free_port():
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def client(service, endpoint, region, *, retries=None):
    """A boto3 client for ``service`` of the emulator's AWS APIs at ``endpoint``, with its credentials;
    ``retries`` (botocore's max_attempts) where the caller retries itself."""
    import boto3

    config = None
    if retries is not None:
        from botocore.config import Config

        config = Config(retries={"max_attempts": retries})
    return boto3.client(service, endpoint_url=endpoint, region_name=region, aws_access_key_id=FAKE_KEY,
                        aws_secret_access_key=FAKE_KEY, config=config)


def health(endpoint, timeout=1.0):
    """The raw health answer of a local server at ``endpoint``, or None when it does not answer."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(endpoint + HEALTH_PATH, timeout=timeout) as answer:
            return answer.read()
    except (urllib.error.URLError, OSError):
        return None


def wait_healthy(endpoint, process, timeout):
    """The health answer of the server ``process`` started at ``endpoint``, once it answers; None when
    the process exits first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while (answer := health(endpoint, timeout=0.5)) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            return None
        time.sleep(0.1)
    return answer


def background(work, name, *args):
    """Run ``work(*args)`` in a daemon thread (it ends with the process) and return the thread."""
    thread = threading.Thread(target=work, args=args, name=name, daemon=True)
    thread.start()
    return thread
