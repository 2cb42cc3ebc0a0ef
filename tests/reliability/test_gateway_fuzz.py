"""Hostile requests over HTTP to the local endpoint: every answer is JSON, as the deployed API's gateway
responses and the validator make it, never a page; no 5xx; and the emulator serves on afterwards.

Requests are written on raw sockets, so that what no HTTP library sends can be sent: bodies nested
50 000 levels deep, invalid UTF-8, huge and many headers, wrong or missing content types, chunked bodies
(well-formed and not), empty bodies, bytes. They go to POST /webhook and to each payment-provider
source's route (tests/conftest.py enables all five), which also get requests signed with the source's own
secret whose content is hostile: numbers no decimal holds, missing fields and ids, XML with a DTD or an
entity that would expand, nesting past any limit. RELIABILITY_HTTP_FUZZ_COUNT sets how many (default
10 000).
"""

import json
import os
import random
import socket
import threading
import time
from collections import Counter
from urllib.parse import urlparse

from tapctl import providers, signing
from tapctl.config import SOURCES
from tests.conftest import SOURCE_SECRETS
from tests.support import HOSTILE_NUMBERS, sample

COUNT = int(os.environ.get("RELIABILITY_HTTP_FUZZ_COUNT", "10000"))


def request(host, port, raw, timeout=30):
    """Send ``raw`` bytes; (status, headers, body) of the answer (the connection is closed after it).

    The answer is read while the request is still being sent: a server that answers early (a header
    too long) and closes would otherwise reset the connection under an unread answer."""
    with socket.create_connection((host, port), timeout=timeout) as connection:
        def send():
            try:
                connection.sendall(raw)
                connection.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the server answered and closed before it read everything

        sender = threading.Thread(target=send)
        sender.start()
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        sender.join()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not answer:
        return 0, {}, b""  # no answer at all: counted, and a failure
    status = int(lines[0].split(" ", 2)[1])
    headers = {line.split(":", 1)[0].strip().lower(): line.split(":", 1)[1].strip() for line in lines[1:] if ":" in line}
    return status, headers, body


def build(path, body=b"", headers=None, content_type="application/json", chunked=None):
    lines = [f"POST {path} HTTP/1.1", "Host: localhost", "Connection: close"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if chunked is not None:
        lines.append("Transfer-Encoding: chunked")
        payload = chunked
    else:
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


def chunks(data, rng):
    out, start = b"", 0
    while start < len(data):
        piece = data[start:start + rng.randrange(1, 50)]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        start += len(piece)
    return out + b"0\r\n\r\n"


def hostile(rng, path, secret):
    event = json.dumps(sample("payment")).encode()
    kind = rng.choice(KINDS)
    if kind == "hostile number":  # signed, so that the validator parses it: a 400, never a decimal's 5xx
        body = event[:-1] + b', "meta": ' + rng.choice(HOSTILE_NUMBERS).encode() + b"}"
        return kind, build(path, body, signing.headers(secret, body))
    if kind == "deep nesting":
        depth = rng.choice([33, 1000, 50_000])
        return kind, build(path, b"[" * depth + b"]" * depth)
    if kind == "deep object":
        return kind, build(path, event[:-1] + b', "x": ' + b'{"a":' * 20_000 + b"1" + b"}" * 20_000 + b"}")
    if kind == "invalid utf-8":
        data = bytearray(event)
        data.insert(rng.randrange(len(data)), rng.choice([0xFF, 0xC0, 0x80, 0xED]))
        return kind, build(path, bytes(data))
    if kind == "huge header":
        return kind, build(path, event, {"X-Padding": "x" * rng.choice([8_000, 60_000, 70_000])})
    if kind == "many headers":
        return kind, build(path, event, {f"X-H{n}": "v" * rng.randrange(1, 100) for n in range(rng.choice([50, 99, 150]))})
    if kind == "wrong content type":
        return kind, build(path, event, content_type=rng.choice(["text/plain", "application/xml", "multipart/form-data; boundary=x", "*/*", "application/json; charset=latin-1"]))
    if kind == "no content type":
        return kind, build(path, event, content_type=None)
    if kind == "chunked":
        return kind, build(path, chunked=chunks(rng.choice([event, b"[" * 5000 + b"]" * 5000, b"{}"]), rng))
    if kind == "broken chunks":
        return kind, build(path, chunked=rng.choice([b"zz\r\nabc\r\n0\r\n\r\n", b"5\r\nab", b"fffffff\r\n{}\r\n0\r\n\r\n"]))
    if kind == "empty":
        return kind, build(path, b"")
    if kind == "bytes":
        return kind, build(path, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000))))
    if kind == "wrong length":
        raw = build(path, event)
        return kind, raw.replace(f"Content-Length: {len(event)}".encode(), b"Content-Length: " + str(rng.choice([0, 5, len(event) - 1])).encode())
    return kind, build(path, event, {"webhook-id": "x" * 5000, "webhook-timestamp": "1" * 300, "webhook-signature": "v1," + "A" * 9000})


def provider_hostile(rng, source, path, signed_url):
    """A request signed with ``source``'s secret, as its provider signs, whose content is hostile."""
    kind = rng.choice(PROVIDER_KINDS)
    secret = SOURCE_SECRETS[source]
    if source == "braintree":
        xml = {"provider hostile number": "<notification><kind>transaction_settled</kind><subject><transaction>"
                                          f"<amount>{rng.choice(HOSTILE_NUMBERS)}</amount><currency-iso-code>USD"
                                          "</currency-iso-code></transaction></subject></notification>",
               "provider missing fields": "<notification><kind>transaction_settled</kind></notification>",
               "provider entity": '<?xml version="1.0"?><!DOCTYPE n [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;'
                                  '&a;&a;&a;&a;">]><notification><kind>&b;</kind></notification>',
               "provider deep nesting": "<a>" * 5000 + "</a>" * 5000}[kind]
        headers, body = providers.signed(source, xml, secret)
        return kind, build(path, body, {k: v for k, v in headers.items() if k != "Content-Type"},
                           content_type=headers["Content-Type"])
    document, event_id = providers.sample(source, "payment")
    if source == "adyen" and kind == "provider hostile number":  # signed over the number's text, as sent
        number = rng.choice(HOSTILE_NUMBERS)
        document["notificationItems"][0]["NotificationRequestItem"]["amount"]["value"] = number
        headers, body = providers.signed(source, document, secret)
        body = body.replace(f'"value": "{number}"'.encode(), f'"value": {number}'.encode())
        return kind, build(path, body, content_type=headers["Content-Type"])
    text = json.dumps(document)
    if kind == "provider hostile number":
        text = text.replace('"amount": 1000', '"amount": ' + rng.choice(HOSTILE_NUMBERS), 1).replace(
            '"value": 1000', '"value": ' + rng.choice(HOSTILE_NUMBERS), 1)
    elif kind == "provider missing fields":
        text = json.dumps({"id": "evt_1"} if source != "adyen" else {"notificationItems": [{"NotificationRequestItem": {}}]})
    elif kind == "provider entity":  # JSON cannot hold one: a JSON body of XML text, signed
        text = '<?xml version="1.0"?><!DOCTYPE n [<!ENTITY a "a">]><n>&a;</n>'
    else:
        text = "[" * 50_000 + "]" * 50_000
    if source == "adyen":  # its signature is over fields of each item: signed as the items stand, if any
        try:
            headers, body = providers.signed(source, text.encode(), secret)
        except (ValueError, TypeError, AttributeError, RecursionError):
            headers, body = {"Content-Type": "application/json"}, text.encode()
    else:
        headers, body = providers.signed(source, text.encode(), secret, url=signed_url,
                                         event_id=None if kind == "provider missing fields" else event_id)
        if kind == "provider missing fields" and source == "razorpay":
            headers.pop("X-Razorpay-Event-Id")
    return kind, build(path, body, {k: v for k, v in headers.items() if k != "Content-Type"},
                       content_type=headers["Content-Type"])


PROVIDER_KINDS = ["provider hostile number", "provider missing fields", "provider entity", "provider deep nesting"]
KINDS = ["deep nesting", "deep object", "invalid utf-8", "huge header", "many headers", "wrong content type",
         "no content type", "chunked", "broken chunks", "empty", "bytes", "wrong length", "garbage signature",
         "hostile number"]


def test_hostile_requests_get_json_answers_and_the_emulator_serves_on(local_only):
    deployment = local_only
    url = urlparse(deployment.url)
    routes = deployment.outputs["webhook_sources"]
    assert sorted(routes) == sorted(SOURCES)
    paths = [url.path] + [urlparse(routes[name]["url"]).path for name in SOURCES]
    rng = random.Random(20261130)
    statuses, kinds, not_json, throttled, by_path = Counter(), Counter(), [], 0, Counter()
    started = time.perf_counter()
    for _ in range(COUNT):
        path = rng.choice(paths)
        source = path.rsplit("/", 1)[-1] if path != url.path else None
        by_path[source or "canonical"] += 1
        if source and rng.random() < 0.4:
            route = routes[source]
            kind, raw = provider_hostile(rng, source, path, route["notification_url"] or route["url"])
        else:
            kind, raw = hostile(rng, path, deployment.secret)
        status, headers, body = request(url.hostname, url.port, raw)
        # One sender faster than the stage's rate limit (500 requests/s, burst 1 000) is throttled, as it
        # should be: it waits and sends again, as a sender would, so each request's own answer is judged.
        for _ in range(100):
            if status != 429:
                break
            throttled += 1
            time.sleep(0.05)
            status, headers, body = request(url.hostname, url.port, raw)
        kinds[kind] += 1
        statuses[status] += 1
        try:
            json.loads(body)
            assert headers.get("content-type", "").startswith("application/json")
        except (ValueError, AssertionError):
            not_json.append((kind, status, headers.get("content-type"), body[:120]))
        assert 0 < status < 500, (kind, source, status, body[:300])
        if kind == "hostile number" and source is None:  # the gateway's model check or the validator's rule
            assert status == 400 and json.loads(body)["error"], (status, body[:300])
    elapsed = time.perf_counter() - started
    assert not_json == [], not_json[:5]
    assert set(kinds) == set(KINDS + PROVIDER_KINDS) and set(by_path) == {"canonical", *SOURCES}
    assert deployment.post(sample("refund"))[0] == 200  # still serving
    print(f"gateway fuzz: {COUNT} hostile requests of {len(kinds)} kinds in {elapsed:.0f} s "
          f"({dict(sorted(by_path.items()))}); answers {dict(sorted(statuses.items()))}; all JSON, no 5xx; "
          f"{throttled} throttled and sent again")
