"""One function instance, like a warm Lambda container: loads the deployed handler once, then runs one
invocation at a time. Requests and answers are JSON lines on stdin/stdout; the handler's own output
goes to stderr (the function's log)."""

import importlib
import json
import os
import sys
import time
import traceback
import uuid


class Context:
    def __init__(self, function_name, request_id, timeout_s, memory_mb):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.aws_request_id = request_id
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = os.environ.get("TAPCTL_FUNCTION_ARN", "")
        self.log_group_name = f"/aws/lambda/{function_name}"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main():
    code_dir, handler = sys.argv[1], sys.argv[2]
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr  # the handler's prints are its log, never the protocol
    sys.path.insert(0, code_dir)
    module_name, function_name = handler.rsplit(".", 1)
    entry = getattr(importlib.import_module(module_name), function_name)
    protocol.write(json.dumps({"ready": True}) + "\n")
    protocol.flush()
    for line in sys.stdin:
        request = json.loads(line)
        context = Context(
            os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
            request.get("request_id") or str(uuid.uuid4()),
            request.get("timeout", 3),
            int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")),
        )
        try:
            result = {"ok": True, "payload": entry(request["event"], context)}
        except Exception as error:  # the function's error is its answer, as Lambda reports it
            result = {
                "ok": False,
                "payload": {
                    "errorMessage": str(error),
                    "errorType": type(error).__name__,
                    "stackTrace": traceback.format_exc().splitlines(),
                },
            }
        sys.stderr.flush()
        protocol.write(json.dumps(result, default=str) + "\n")
        protocol.flush()


if __name__ == "__main__":
    main()
