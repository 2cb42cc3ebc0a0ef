"""The local target: the real terraform/ module applied to a moto server, plus the data plane moto
does not run (API Gateway's POST /webhook and Lambda execution), all read from what was deployed.

    emulator  starts, finds and stops one emulator process per environment
    server    the emulator process: moto behind a WSGI layer that adds the data plane
    gateway   API Gateway: model validation, throttling, gateway responses, the AWS_PROXY v1 event
    lambdas   Lambda: deployed zips run in worker processes, sync and async invokes, retries, destinations
    worker    the process that runs one function instance (a warm container)
    quirks    where moto's answers differ from AWS in ways terraform notices
"""
