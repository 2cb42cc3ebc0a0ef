"""API Gateway's data plane for the local target, read from the deployed REST API.

A request to ``/restapis/<api>/<stage>/_user_request_/<path>`` goes through what the deployed API
says: the method and its AWS_PROXY integration, the Lambda permission for this API/stage/method,
the stage's throttling (a token bucket per stage, 429 beyond it), the request validator with its
model (JSON Schema draft-04), and the gateway responses' templates for the gateway's own errors.

Two simplifications, both visible in the answers: the API's current definition is served (AWS
serves the last deployment), and gateway-response templates support the ``$context.error``
variables and ``$util.escapeJavaScript(...)`` as the module uses them, not all of VTL.
"""

import base64
import fnmatch
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import jsonschema

from tapctl.local.lambdas import Throttled

_INVOKE_URI = re.compile(r"arn:[^:]+:apigateway:[^:]+:lambda:path/2015-03-31/functions/(?P<arn>.+)/invocations")
_RESPONSE_HEADER = "gatewayresponse.header."  # a gateway response's header parameters
_ESCAPED = re.compile(r"""\$util\.escapeJavaScript\((\$context\.error\.[A-Za-z]+)\)(\.replaceAll\("\\\\'", ?"'"\))?""")


@dataclass
class Route:
    api_id: str
    api_name: str
    stage: str
    resource_id: str
    resource_path: str
    method: str
    function_arn: str
    schema: object | None  # a compiled jsonschema validator of the model
    responses: dict
    burst: int
    rate: float
    permitted: bool


@dataclass
class Bucket:
    burst: int
    rate: float
    tokens: float = field(default=0.0)
    stamp: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self):
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


class Counters:
    """What API Gateway reports to CloudWatch per API and stage, counted since the last ``take``."""

    def __init__(self):
        self.lock = threading.Lock()
        self.values = {}

    def add(self, api_name, stage, status, latency_ms):
        with self.lock:
            counted = self.values.setdefault((api_name, stage), {"Count": 0, "4XXError": 0, "5XXError": 0, "Latency": []})
            counted["Count"] += 1
            if 400 <= status < 500:
                counted["4XXError"] += 1
            elif status >= 500:
                counted["5XXError"] += 1
            counted["Latency"].append(latency_ms)

    def take(self):
        with self.lock:
            taken, self.values = self.values, {}
        return taken


class Gateway:
    def __init__(self, *, clients, runtime, account):
        self.clients = clients
        self.runtime = runtime
        self.account = account
        self.routes = {}
        self.buckets = {}
        self.generation = -1
        self.counters = Counters()
        self.lock = threading.Lock()

    # -- what was deployed -------------------------------------------------------------------------

    def _route(self, api_id, stage, path, method, generation):
        key = (api_id, stage, path, method)
        with self.lock:
            if generation != self.generation:
                self.routes.clear()
                self.generation = generation
            if key not in self.routes:
                self.routes[key] = self._load(api_id, stage, path, method)
            return self.routes[key]

    def _load(self, api_id, stage, path, method):
        apigateway = self.clients("apigateway")
        try:
            settings = apigateway.get_stage(restApiId=api_id, stageName=stage)
        except apigateway.exceptions.NotFoundException:
            return None
        resources = apigateway.get_resources(restApiId=api_id, limit=500)["items"]
        resource = next((item for item in resources if item["path"] == path), None)
        responses = {
            item["responseType"]: item
            for item in apigateway.get_gateway_responses(restApiId=api_id, limit=500).get("items", [])
        }
        throttle = settings.get("methodSettings", {}).get("*/*", {})
        base = dict(
            api_id=api_id, api_name=apigateway.get_rest_api(restApiId=api_id)["name"], stage=stage, responses=responses,
            burst=int(throttle.get("throttlingBurstLimit", 5000)), rate=float(throttle.get("throttlingRateLimit", 10000)),
        )
        if resource is None or method not in resource.get("resourceMethods", {}):
            return Route(resource_id="", resource_path=path, method=method, function_arn="", schema=None, permitted=False, **base)
        described = apigateway.get_method(restApiId=api_id, resourceId=resource["id"], httpMethod=method)
        integration = described.get("methodIntegration", {})
        match = _INVOKE_URI.fullmatch(integration.get("uri", ""))
        schema = None
        validator_id = described.get("requestValidatorId")
        if validator_id:
            validator = apigateway.get_request_validator(restApiId=api_id, requestValidatorId=validator_id)
            model = described.get("requestModels", {}).get("application/json")
            if validator.get("validateRequestBody") and model:
                schema = jsonschema.Draft4Validator(
                    json.loads(apigateway.get_model(restApiId=api_id, modelName=model)["schema"])
                )
        function_arn = match.group("arn") if match and integration.get("type") == "AWS_PROXY" else ""
        return Route(
            resource_id=resource["id"], resource_path=path, method=method, function_arn=function_arn, schema=schema,
            permitted=bool(function_arn) and self._permitted(function_arn, api_id, stage, method, path), **base,
        )

    def _permitted(self, function_arn, api_id, stage, method, path):
        lambda_client = self.clients("lambda")
        try:
            policy = json.loads(lambda_client.get_policy(FunctionName=function_arn.split(":")[-1])["Policy"])
        except lambda_client.exceptions.ResourceNotFoundException:
            return False
        # moto keeps the account out of execution ARNs: compare the API/stage/method/path part only.
        source = f"{api_id}/{stage}/{method}{path}"
        for statement in policy.get("Statement", []):
            principal = statement.get("Principal", {})
            service = principal.get("Service") if isinstance(principal, dict) else principal
            if statement.get("Effect") != "Allow" or service != "apigateway.amazonaws.com":
                continue
            pattern = statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn")
            if pattern is None or fnmatch.fnmatchcase(source, pattern.split(":")[-1]):
                return True
        return False

    # -- a request ---------------------------------------------------------------------------------

    def handle(self, api_id, stage, path, method, headers, query, body, source_ip, generation):
        started = time.perf_counter()
        route = self._route(api_id, stage, path, method, generation)
        if route is None:
            return 403, {"Content-Type": "application/json"}, json.dumps({"message": "Forbidden"})
        answer = self._handle(route, path, method, headers, query, body, source_ip)
        self.counters.add(route.api_name, route.stage, answer[0], (time.perf_counter() - started) * 1000)
        return answer

    def _handle(self, route, path, method, headers, query, body, source_ip):
        api_id, stage = route.api_id, route.stage
        if not route.function_arn:
            return self._error(route, "MISSING_AUTHENTICATION_TOKEN", 403, "Missing Authentication Token")
        bucket = self.buckets.get((api_id, stage))
        if bucket is None:
            bucket = self.buckets.setdefault((api_id, stage), Bucket(route.burst, route.rate, tokens=route.burst))
        bucket.burst, bucket.rate = route.burst, route.rate
        if not bucket.take():
            return self._error(route, "THROTTLED", 429, "Too Many Requests")
        if route.schema is not None and _json_content(headers):
            problem = _validation_error(route.schema, body)
            if problem is not None:
                return self._error(route, "BAD_REQUEST_BODY", 400, "Invalid request body", problem)
        if not route.permitted:
            return self._error(route, "DEFAULT_5XX", 500, "Internal server error")

        event = self._proxy_event(route, path, method, headers, query, body, source_ip)
        try:
            ok, answer = self.runtime.invoke(route.function_arn.split(":")[-1], event)
        except Throttled:  # API Gateway meets Lambda's throttle as an integration failure
            return self._error(route, "INTEGRATION_FAILURE", 500, "Internal server error")
        if not ok or not isinstance(answer, dict) or not isinstance(answer.get("statusCode"), int):
            return self._error(route, "DEFAULT_5XX", 502, "Internal server error")
        out_body = answer.get("body") or ""
        if answer.get("isBase64Encoded"):
            out_body = base64.b64decode(out_body)
        return answer["statusCode"], dict(answer.get("headers") or {}), out_body

    def _proxy_event(self, route, path, method, headers, query, body, source_ip):
        try:
            text, encoded = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode(), True
        now = datetime.now(timezone.utc)
        request_id = str(uuid.uuid4())
        return {
            "resource": route.resource_path,
            "path": path,
            "httpMethod": method,
            "headers": {name: values[-1] for name, values in headers.items()},
            "multiValueHeaders": headers,
            "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": None,
            "stageVariables": None,
            "requestContext": {
                "accountId": self.account,
                "apiId": route.api_id,
                "resourceId": route.resource_id,
                "resourcePath": route.resource_path,
                "httpMethod": method,
                "requestId": request_id,
                "extendedRequestId": request_id,
                "stage": route.stage,
                "path": f"/{route.stage}{path}",
                "protocol": "HTTP/1.1",
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "identity": {"sourceIp": source_ip, "userAgent": (headers.get("User-Agent") or [""])[-1]},
                "domainName": "localhost",
            },
            "body": text if body else None,
            "isBase64Encoded": encoded,
        }

    def _error(self, route, response_type, status, message, validation=""):
        response = route.responses.get(response_type) or route.responses.get(
            "DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX"
        )
        template = (response or {}).get("responseTemplates", {}).get("application/json")
        if template is None:
            return status, {"Content-Type": "application/json"}, json.dumps({"message": message})
        if response.get("statusCode") and response["responseType"] == response_type:
            status = int(response["statusCode"])
        values = {"message": message, "messageString": json.dumps(message), "validationErrorString": validation}

        def escaped(match):
            return json.dumps(values.get(match.group(1).rsplit(".", 1)[-1], ""))[1:-1]

        rendered = _ESCAPED.sub(escaped, template)
        for name in ("messageString", "validationErrorString", "message"):
            rendered = rendered.replace(f"$context.error.{name}", values[name])
        headers = {"Content-Type": "application/json"}
        for name, value in (response.get("responseParameters") or {}).items():
            # Only static values ('...'), the kind the module sets; API Gateway also maps request values.
            if name.startswith(_RESPONSE_HEADER) and len(value) >= 2 and value[0] == value[-1] == "'":
                headers[name[len(_RESPONSE_HEADER):]] = value[1:-1]
        return status, headers, rendered


def _json_content(headers):
    content_type = (headers.get("Content-Type") or ["application/json"])[-1]
    return content_type.split(";")[0].strip().lower() in ("application/json", "")


def _validation_error(validator, body):
    """API Gateway's validationErrorString for a body, or None when it is valid."""
    try:
        document = json.loads(body)
    except ValueError as error:
        return f"[Invalid request body: {error}]"
    except RecursionError:
        # Deeper than Python's parser goes (a 100 KB body of brackets): API Gateway's parser refuses it too.
        return "[Invalid request body: nested too deeply]"
    try:
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    except RecursionError:
        return "[Invalid request body: nested too deeply]"
    if not errors:
        return None
    messages, missing = [], []
    for error in errors:
        if error.validator == "required":
            # One error per missing property; API Gateway names them all in one message.
            if not missing:
                messages.append(None)
            missing.extend(name for name in error.validator_value if name not in error.instance and name not in missing)
        else:
            where = "/" + "/".join(str(part) for part in error.absolute_path)
            messages.append(f"instance {where}: {error.message}")
    messages = [m if m is not None else f"object has missing required properties ({json.dumps(missing)})" for m in messages]
    return "[" + ", ".join(messages) + "]"
