"""Where moto's SQS answers differ from AWS in ways the terraform provider notices.

- RedriveAllowPolicy: moto drops it on SetQueueAttributes and rejects it as an unknown attribute
  name on GetQueueAttributes. The provider sets it, then reads it back until it matches, so
  ``aws_sqs_queue_redrive_allow_policy`` fails. Kept here per queue and answered from here.
- RedrivePolicy: moto answers ``{"deadLetterTargetArn": "...", "maxReceiveCount": 3}`` with spaces;
  AWS answers compact JSON. The provider compares the text, so every plan showed a change.
"""

import json
import threading


class SqsQuirks:
    def __init__(self):
        self.redrive_allow = {}
        self.lock = threading.Lock()

    def request(self, target, document):
        """Adjust a request before moto sees it; return (document to forward or None, answer or None)."""
        if target == "CreateQueue" and "RedriveAllowPolicy" in document.get("Attributes", {}):
            attributes = dict(document["Attributes"])
            attributes.pop("RedriveAllowPolicy")
            return {**document, "Attributes": attributes}, None
        if target == "SetQueueAttributes":
            attributes = dict(document.get("Attributes", {}))
            allow = attributes.pop("RedriveAllowPolicy", None)
            if allow is not None:
                with self.lock:
                    if allow in ("", "{}"):  # how the provider removes it
                        self.redrive_allow.pop(document["QueueUrl"], None)
                    else:
                        self.redrive_allow[document["QueueUrl"]] = allow
                if not attributes:
                    return None, {}
                return {**document, "Attributes": attributes}, None
        if target == "GetQueueAttributes":
            names = document.get("AttributeNames", [])
            if "RedriveAllowPolicy" in names:
                rest = [name for name in names if name != "RedriveAllowPolicy"]
                if not rest:
                    return None, self.response(target, document, {})
                return {**document, "AttributeNames": rest}, None
        if target == "DeleteQueue":
            with self.lock:
                self.redrive_allow.pop(document.get("QueueUrl"), None)
        return document, None

    def response(self, target, document, answer):
        if target == "CreateQueue" and isinstance(answer, dict) and "QueueUrl" in answer:
            allow = document.get("Attributes", {}).get("RedriveAllowPolicy")
            if allow not in (None, "", "{}"):
                with self.lock:
                    self.redrive_allow[answer["QueueUrl"]] = allow
            return answer
        if target != "GetQueueAttributes" or not isinstance(answer, dict):
            return answer
        attributes = answer.setdefault("Attributes", {})
        if "RedrivePolicy" in attributes:
            attributes["RedrivePolicy"] = json.dumps(json.loads(attributes["RedrivePolicy"]), separators=(",", ":"))
        names = document.get("AttributeNames", [])
        with self.lock:
            allow = self.redrive_allow.get(document.get("QueueUrl"))
        if allow is not None and ("All" in names or "RedriveAllowPolicy" in names):
            attributes["RedriveAllowPolicy"] = allow
        if not attributes:
            answer.pop("Attributes")
        return answer
