"""The local target: the real terraform/ module applied to a moto server, plus the data plane moto
does not run (API Gateway's POST /webhook and Lambda execution), all read from what was deployed.

    emulator  starts, finds and stops one emulator per environment
    server    the emulator's front process: serves the parts below, forwards everything else
    aws       the emulator's AWS processes: moto, with SQS adjusted, Lambda's account settings, bucket
              policies kept and Object Lock changes allowed; a second one serves S3 alone
    serving   the HTTP server of its processes (connections kept alive, JSON for what it refuses)
    gateway   API Gateway: model validation, throttling, gateway responses, the AWS_PROXY v1 event
    lambdas   Lambda: deployed zips run in worker processes, sync and async invokes, retries,
              destinations, log streams in CloudWatch Logs
    worker    the process that runs one function instance (a warm container)
    sqs       SQS as AWS answers it: moto's differences smoothed, message move tasks (DLQ redrive)
    monitor   CloudWatch as AWS fills it: SQS, Lambda and API Gateway metrics; alarms evaluated
    scheduler EventBridge schedules: rate(...) rules invoke their functions
"""
