"""The de-duplication records in DynamoDB: one item per accepted event_id, claimed by one conditional
PutItem and released only by the request that claimed it.

The record's life:

    absent / expired --claim: PutItem(condition holds)--> held by this request (request_id = ours)
    held --hand-over accepted--> kept until expires_at (now + 30 days); TTL deletes it up to 48 h later
    held --hand-over failed--> release: DeleteItem(request_id = ours) --> absent: the sender's retry is accepted
    held by anyone, not expired --claim: PutItem(condition fails)--> Duplicate, nothing else called

``expires_at < :now`` in the condition matters because TTL deletion lags: an expired record must not
turn a legitimate re-delivery into a duplicate. A PutItem whose answer was lost is retried by botocore
and then fails its condition on this request's own record: the failure returns the record
(ReturnValuesOnConditionCheckFailure), so the claim still succeeds, at no extra call.
"""

from botocore.exceptions import BotoCoreError, ClientError

DEDUP_TTL_SECONDS = 30 * 24 * 60 * 60
TTL_ATTRIBUTE = "expires_at"  # the table's TTL attribute (terraform/locals.tf dedup_ttl_attribute)
DEDUP_CONDITION = f"attribute_not_exists(event_id) OR {TTL_ATTRIBUTE} < :now"


class Duplicate(Exception):
    """Another request holds this event_id's record."""


class StoreUnavailable(Exception):
    """DynamoDB could not be asked (the cause is chained)."""


class Records:
    def __init__(self, table, client):
        self.table = table
        self.client = client

    def claim(self, event, *, request, now, received_at):
        """Write this event's record unless a live one exists; ``Duplicate`` or ``StoreUnavailable`` otherwise."""
        item = {
            "event_id": {"S": event["event_id"]},
            "transaction_type": {"S": event["transaction_type"]},
            "amount": {"N": str(event["amount"])},
            "timestamp": {"S": event["timestamp"]},
            "received_at": {"S": received_at},
            TTL_ATTRIBUTE: {"N": str(int(now) + DEDUP_TTL_SECONDS)},
            "request_id": {"S": request},
        }
        try:
            self.client.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression=DEDUP_CONDITION,
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise StoreUnavailable(error) from error
            if error.response.get("Item", {}).get("request_id") != {"S": request}:
                raise Duplicate(event["event_id"]) from None
            # else: our own first attempt stored it and its answer was lost; the record is ours
        except BotoCoreError as error:
            raise StoreUnavailable(error) from error

    def release(self, event_id, *, request):
        """Delete the record if this request still holds it; False when that could not be done."""
        try:
            self.client.delete_item(
                TableName=self.table,
                Key={"event_id": {"S": event_id}},
                ConditionExpression="request_id = :request_id",
                ExpressionAttributeValues={":request_id": {"S": request}},
            )
        except ClientError as error:
            return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
        except BotoCoreError:
            return False
        return True
