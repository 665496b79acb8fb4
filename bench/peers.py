"""What users would pick instead of msgrelay's classes: msgspec Structs and pydantic v2 models.

Both describe the same payloads as msgrelay's models, field for field, with the same optional fields.
The pydantic models keep unknown keys (``extra="allow"``), as msgrelay does; msgspec cannot keep them
and drops them, which makes it a floor for a typed decode rather than an equal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
import pydantic
from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel


# --- msgspec -----------------------------------------------------------------------------------
class MsMetadata(msgspec.Struct):
    request_message_generation_api_request_secure_request_id: str | None = None
    retrieve_messages_api_request_secure_request_id: str | None = None
    generation_status: str | None = None
    status_message: str | None = None
    requested_message_count: int | None = None
    generated_message_count: int | None = None
    failed_messages_count: int | None = None
    failed_messages_reason: str | None = None


class MsAccount(msgspec.Struct):
    automation_tool_customer_id: str | None = None


class MsStep(msgspec.Struct):
    step: int
    message_type: str = msgspec.field(name="messageType")


class MsLead(msgspec.Struct):
    external_prospect_id: str
    linkedin: str | None = None
    outreach_message: str | None = None
    first_follow_up_message: str | None = None
    share_material_message: str | None = None
    hiring_activity_message: str | None = None
    stage_ambition_message: str | None = None
    no_job_posts: bool | None = None


class MsCampaign(msgspec.Struct):
    automation_tool_campaign_id: str | None = None
    automation_tool_campaign_name: str | None = None
    message_sequence: list[MsStep] = msgspec.field(default_factory=list)
    leads_data: list[MsLead] = msgspec.field(default_factory=list)


class MsRetrieve(msgspec.Struct):
    metadata: MsMetadata
    account: MsAccount = msgspec.field(default_factory=MsAccount)
    campaign: MsCampaign = msgspec.field(default_factory=MsCampaign)


MS_RETRIEVE = msgspec.json.Decoder(MsRetrieve)
MS_ENCODER = msgspec.json.Encoder()


class MsInternal(msgspec.Struct, tag_field="channel", tag="internal", rename="camel"):
    id: str
    request_id: str
    created_at: datetime
    title: str | None = None
    text: str | None = None
    updated_at: datetime | None = None


class MsEmail(msgspec.Struct, tag_field="channel", tag="email", rename="camel"):
    id: str
    request_id: str
    created_at: datetime
    title: str | None = None
    body: str | None = None
    status: str | None = None
    send_on: datetime | None = None
    updated_at: datetime | None = None


class MsSms(msgspec.Struct, tag_field="channel", tag="sms", rename="camel"):
    id: str
    request_id: str
    created_at: datetime
    body: str | None = None
    status: str | None = None
    send_on: datetime | None = None
    title: str | None = None
    updated_at: datetime | None = None


MS_MESSAGES = msgspec.json.Decoder(list[MsInternal | MsEmail | MsSms])


# --- pydantic v2 -------------------------------------------------------------------------------
class _Open(pydantic.BaseModel):
    model_config = ConfigDict(extra="allow")


class PdMetadata(_Open):
    request_message_generation_api_request_secure_request_id: str | None = None
    retrieve_messages_api_request_secure_request_id: str | None = None
    generation_status: str | None = None
    status_message: str | None = None
    requested_message_count: int | None = None
    generated_message_count: int | None = None
    failed_messages_count: int | None = None
    failed_messages_reason: str | None = None


class PdAccount(_Open):
    automation_tool_customer_id: str | None = None


class PdStep(_Open):
    step: int
    message_type: str = Field(alias="messageType")


class PdLead(_Open):
    external_prospect_id: str
    linkedin: str | None = None
    outreach_message: str | None = None
    first_follow_up_message: str | None = None
    share_material_message: str | None = None
    hiring_activity_message: str | None = None
    stage_ambition_message: str | None = None
    no_job_posts: bool | None = None


class PdCampaign(_Open):
    automation_tool_campaign_id: str | None = None
    automation_tool_campaign_name: str | None = None
    message_sequence: list[PdStep] = []
    leads_data: list[PdLead] = []


class PdRetrieve(_Open):
    metadata: PdMetadata
    account: PdAccount = PdAccount()
    campaign: PdCampaign = PdCampaign()


class _Message(_Open):
    model_config = ConfigDict(extra="allow", alias_generator=to_camel)


class PdInternal(_Message):
    channel: Literal["internal"]
    id: str
    request_id: str
    created_at: datetime
    title: str | None = None
    text: str | None = None
    updated_at: datetime | None = None


class PdEmail(_Message):
    channel: Literal["email"]
    id: str
    request_id: str
    created_at: datetime
    title: str | None = None
    body: str | None = None
    status: str | None = None
    send_on: datetime | None = None
    updated_at: datetime | None = None


class PdSms(_Message):
    channel: Literal["sms"]
    id: str
    request_id: str
    created_at: datetime
    body: str | None = None
    status: str | None = None
    send_on: datetime | None = None
    title: str | None = None
    updated_at: datetime | None = None


PD_MESSAGES: pydantic.TypeAdapter[list[PdInternal | PdEmail | PdSms]] = pydantic.TypeAdapter(
    list[Annotated[PdInternal | PdEmail | PdSms, Field(discriminator="channel")]]
)
