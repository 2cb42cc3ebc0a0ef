"""The evidence archive, read: one event's evidence with its signature verified again (``get``), the
events of a time range (``listing``), and their re-delivery to their queues (``replay``).

The key layout is the handlers' (handlers/archive.py): a GET by event_id, a listing by source and time,
so nothing here scans the bucket. Nothing here writes to the archive or deletes from it; ``replay``
sends to the live queues and never receives from them.
"""

import json
from datetime import datetime, timedelta, timezone

from tapctl.errors import TapctlError, UsageError

ARCHIVE_OUTPUT = "archive_bucket_name"
# The attributes that mark a replayed message (with event_id and transaction_type, as the router sends them).
REPLAY_ATTRIBUTE = "replay"
RECEIVED_AT_ATTRIBUTE = "received_at"


class Archive:
    """One environment's archive: its bucket, read through the target's clients, with the project's key layout."""

    def __init__(self, target, outputs, env, project_dir=None):
        from tapctl.config import ARCHIVE_SOURCES
        from tapctl.providers import project_module

        self.name = outputs.get(ARCHIVE_OUTPUT)
        if not self.name:
            raise TapctlError(f"{env} has no evidence archive: deploy this release to add it (tapctl deploy --env {env})")
        self.target, self.outputs, self.project_dir = target, outputs, project_dir
        self.layout = project_module(project_dir, "handlers.archive")  # the handlers own the key layout
        self.sources = ARCHIVE_SOURCES
        self.s3 = target.client("s3")

    # -- one event -------------------------------------------------------------------------------------

    def read(self, event_id):
        """The stored evidence of ``event_id`` (a provider's own id is found under its source too):
        ``(document, its version id, its lock)``."""
        from botocore.exceptions import ClientError

        named = any(event_id.startswith(f"{source}:") for source in self.sources[1:])
        candidates = [event_id] + ([] if named else [f"{source}:{event_id}" for source in self.sources[1:]])
        for candidate in candidates:
            try:
                found = self.s3.get_object(Bucket=self.name, Key=self.layout.evidence_key(candidate))
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    continue
                raise _s3_error(error, f"cannot read the evidence of {candidate}") from None
            lock = {"mode": found.get("ObjectLockMode"), "retain_until": _iso(found.get("ObjectLockRetainUntilDate"))}
            return json.loads(found["Body"].read()), found.get("VersionId"), lock
        raise TapctlError(f"no evidence of {event_id} in {self.name}: it was never accepted, or was accepted before "
                          "the archive existed (tapctl trace says which)")

    def head(self, event_id):
        """Where ``event_id``'s evidence is (``{key, version, size, lock}``), or None: one HEAD, for tapctl trace."""
        from botocore.exceptions import ClientError

        key = self.layout.evidence_key(event_id)
        try:
            found = self.s3.head_object(Bucket=self.name, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            return {"key": key, "error": error.response.get("Error", {}).get("Code") or str(error)}
        return {"bucket": self.name, "key": key, "version": found.get("VersionId"), "size": found.get("ContentLength"),
                "lock": {"mode": found.get("ObjectLockMode"), "retain_until": _iso(found.get("ObjectLockRetainUntilDate"))}}

    def get(self, event_id):
        """The evidence of ``event_id`` with its signature verified again against the secret version it names."""
        document, version, lock = self.read(event_id)
        return {**document, "archive": {"bucket": self.name, "key": self.layout.evidence_key(document["event_id"]),
                                        "version": version, "lock": lock},
                "verified_again": self.verify_again(document)}

    def verify_again(self, document):
        """``{"result": "valid" | "invalid" | "unverifiable", "detail"}``: the archived request's signature checked
        with the project's own verification code and the secret version the validator read, where it exists."""
        from botocore.exceptions import ClientError

        from tapctl.providers import project_module

        verification, request = document.get("verification"), document.get("request")
        if request is None:
            return {"result": "unverifiable", "detail": "accepted by a release before the archive kept requests"}
        if not verification or verification.get("verdict") != "valid":
            said = verification.get("verdict") if verification else "signature_mode off: nothing was verified"
            return {"result": "unverifiable", "detail": f"not verified when received ({said})"}
        arn, version = verification.get("secret_arn"), verification.get("secret_version")
        try:
            secret = self.target.client("secretsmanager").get_secret_value(SecretId=arn, VersionId=version)["SecretString"]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            why = (f"secret version {version} no longer exists" if code == "ResourceNotFoundException"
                   else f"Secrets Manager refused GetSecretValue: {code or error}")
            return {"result": "unverifiable", "detail": why}
        signature = project_module(self.project_dir, "handlers.signature")
        received = datetime.fromisoformat(document["received_at"].replace("Z", "+00:00")).timestamp()
        body, source = self.layout.body_bytes(request), document.get("source")
        try:
            if source == self.layout.CANONICAL_SOURCE:
                keys = signature.active(signature.parse_secret_value(secret), received)
                headers = signature.signature_headers({"multiValueHeaders": request["headers"]})
                msg_id, timestamp, signatures = signature.check_headers(headers, received, 10 ** 9)
                index = signature.verify(keys, msg_id, timestamp, signatures, body)
            else:
                sources = project_module(self.project_dir, "handlers.sources")
                keys = signature.active(signature.parse_secret_value(secret, decode=sources.key_text), received)
                headers = {name.lower(): values[-1] for name, values in request["headers"].items() if values}
                provided = sources.Request(body, headers, url=verification.get("url") or "")
                index = sources.module(source).verify(provided, keys, {"notification_url": verification.get("url")},
                                                      received)
        except Exception as failure:  # the scheme's own refusal: Unauthenticated, Unverified, a malformed secret
            return {"result": "invalid", "detail": f"{verification.get('scheme')}: {failure}"}
        detail = f"{verification.get('scheme')}, key version {index} of secret version {version}"
        if index != verification.get("key_version"):
            detail += f" (recorded as key version {verification.get('key_version')})"
        return {"result": "valid", "detail": detail}

    def raw(self, event_id):
        """The exact bytes of the request's body."""
        document, _, _ = self.read(event_id)
        if document.get("request") is None:
            raise TapctlError(f"the evidence of {document['event_id']} holds no request (accepted by a release before "
                              "the archive kept requests)")
        return self.layout.body_bytes(document["request"])

    # -- a time range -----------------------------------------------------------------------------------

    def listing(self, since, until, source=None, transaction_type=None):
        """Each archived event received in ``[since, until)`` (received_at texts), oldest first, by listing each
        source's keys from ``since`` (S3 lists in key order: one contiguous range per source), never a GET."""
        import heapq

        from botocore.exceptions import ClientError

        def one(source_name):
            prefix = self.layout.received_prefix(source_name)
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix,
                                                                       StartAfter=prefix + since)
            try:
                for page in pages:
                    for item in page.get("Contents", []):
                        entry = self.layout.parse_received_key(item["Key"])
                        if entry is None:
                            continue
                        if entry["received_at"] >= until:
                            return
                        if transaction_type is None or entry["transaction_type"] == transaction_type:
                            yield entry
            except ClientError as error:
                raise _s3_error(error, f"cannot list {self.name}") from None

        chosen = [source] if source else list(self.sources)
        yield from heapq.merge(*(one(name) for name in chosen), key=lambda entry: entry["received_at"])

    # -- re-delivery ------------------------------------------------------------------------------------

    def replay(self, entries, *, dry_run=False, progress=None):
        """Send each archived event's message, exactly as it was queued, to the queue of its type again, marked
        ``replay=true`` with its original ``received_at``; never receives from a queue."""
        from tapctl.config import QUEUE_OUTPUTS

        progress = progress or (lambda done, total: None)
        entries = list(entries)
        result = {"found": len(entries), "replayed": [], "failed": []}
        if dry_run:
            result["would_replay"] = [entry["event_id"] for entry in entries]
            return result
        sqs = self.target.client("sqs")
        for done, entry in enumerate(entries, 1):
            try:
                document, _, _ = self.read(entry["event_id"] or self._hashed_id(entry))
                sqs.send_message(
                    QueueUrl=self.outputs[QUEUE_OUTPUTS[document["transaction_type"]]],
                    MessageBody=document["message_body"],
                    MessageAttributes={
                        "event_id": {"DataType": "String", "StringValue": document["event_id"]},
                        "transaction_type": {"DataType": "String", "StringValue": document["transaction_type"]},
                        REPLAY_ATTRIBUTE: {"DataType": "String", "StringValue": "true"},
                        RECEIVED_AT_ATTRIBUTE: {"DataType": "String", "StringValue": document["received_at"]},
                    })
                result["replayed"].append(document["event_id"])
            except Exception as error:  # one event's failure is reported; the others are still replayed
                result["failed"].append({"event_id": entry["event_id"], "error": str(error)})
            progress(done, len(entries))
        return result

    def _hashed_id(self, entry):
        # An event key too long for S3 names the event by its hash: its evidence says which id it is.
        found = self.s3.get_object(Bucket=self.name, Key=f"{self.layout.EVENTS_PREFIX}{entry['event_key']}.json")
        return json.loads(found["Body"].read())["event_id"]


def _s3_error(error, what):
    code = error.response.get("Error", {}).get("Code", "")
    if code in ("AccessDenied", "403"):
        return TapctlError(f"{what}: access denied (the archive needs s3:GetObject, s3:ListBucket and kms:Decrypt "
                           "on its key)")
    return TapctlError(f"{what}: {code or error}")


def _iso(moment):
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if moment else None


def moment(text):
    """An ISO date (midnight UTC) or date-time (UTC unless it says otherwise), as the archive's received_at text."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{text!r} is not a date (2026-12-01) or an ISO date-time (2026-12-01T13:00:00Z)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def until_moment(text):
    """``--until 2026-12-02`` means to the end of that day; a date-time means that moment."""
    if len(text) == 10:
        try:
            return moment((datetime.fromisoformat(text) + timedelta(days=1)).date().isoformat())
        except ValueError:
            pass
    return moment(text)


def lines(report, body_bytes):
    request, verification = report.get("request") or {}, report.get("verification") or {}
    shown = [f"evidence {report['event_id']}",
             f"  received     {report['received_at']} at {report['source']} ({report['transaction_type']})"]
    if request:
        shown += [f"  request      {request.get('method')} {request.get('path')}  API request {request.get('api_request_id')}",
                  f"  from         {request.get('source_ip')}  {request.get('user_agent')}",
                  f"  body         {len(body_bytes(request))} bytes, sha256 {request.get('body_sha256')}"
                  f" ({request.get('body_encoding')}; --raw writes them)"]
        shown += [f"  header       {name}: {value}" for name, values in request.get("headers", {}).items() for value in values]
    else:
        shown.append("  request      not kept (accepted by a release before the archive kept requests)")
    scheme = f": {verification['scheme']}, key version {verification.get('key_version')}" if verification.get("scheme") else ""
    shown.append(f"  verdict      {verification.get('verdict', 'not verified')}{scheme}")
    again = report["verified_again"]
    shown.append(f"  verified now {again['result']}: {again['detail']}")
    shown += [f"  event        {named['event_id']} ({named['transaction_type']})" for named in report.get("events") or []]
    shown.append(f"  message      {report['message_body']}")
    archived, lock = report["archive"], report["archive"]["lock"]
    shown.append(f"  archived     s3://{archived['bucket']}/{archived['key']} version {archived['version']}, "
                 f"{lock['mode'] or 'no'} lock until {lock['retain_until']}")
    return shown
