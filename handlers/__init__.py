"""The pipeline's two Lambda functions, plain Python on the Lambda runtime.

Each function's zip holds this package with its own module and ``runtime`` (what both share):
``handlers.validator.lambda_handler`` (webhook-validator) and ``handlers.router.lambda_handler``
(event-router). Nothing beyond the standard library and boto3/botocore is imported.
"""
