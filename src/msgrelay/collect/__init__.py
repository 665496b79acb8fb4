"""The Collect API: typed messages on every channel, local validation, and `CollectClient`."""

__all__ = [
    "BODY_MIN_LENGTH",
    "EMAIL",
    "EMAIL_TITLE_MIN_LENGTH",
    "INTERNAL",
    "KNOWN_CHANNELS",
    "KNOWN_STATUSES",
    "SMS",
    "UNSET",
    "CollectClient",
    "CollectRequest",
    "Contact",
    "EmailMessage",
    "InternalMessage",
    "Message",
    "MessageChanges",
    "NewEmailMessage",
    "NewInternalMessage",
    "NewMessage",
    "NewSmsMessage",
    "SmsMessage",
    "UnknownMessage",
    "Unset",
    "changes_from_wire",
    "decode_message",
    "decode_messages",
    "encode",
    "format_timestamp",
    "new_message",
    "new_message_from_wire",
    "parse_timestamp",
]

from msgrelay.collect.client import CollectClient
from msgrelay.collect.convert import decode_message, decode_messages, encode
from msgrelay.collect.drafts import (
    MessageChanges,
    NewEmailMessage,
    NewInternalMessage,
    NewMessage,
    NewSmsMessage,
    changes_from_wire,
    new_message,
    new_message_from_wire,
)
from msgrelay.collect.models import (
    EMAIL,
    INTERNAL,
    KNOWN_CHANNELS,
    KNOWN_STATUSES,
    SMS,
    CollectRequest,
    Contact,
    EmailMessage,
    InternalMessage,
    Message,
    SmsMessage,
    UnknownMessage,
)
from msgrelay.collect.timestamps import format_timestamp, parse_timestamp
from msgrelay.collect.validation import BODY_MIN_LENGTH, EMAIL_TITLE_MIN_LENGTH, UNSET, Unset
