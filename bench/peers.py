"""What users would pick instead of msgrelay's classes: msgspec Structs and pydantic v2 models.

Both describe the same payloads as msgrelay's models, field for field, with the same optional fields.
The pydantic models keep unknown keys (``extra="allow"``), as msgrelay does; msgspec cannot keep them
and drops them, which makes it a floor for a typed decode rather than an equal. The cattrs classes are
what a user of attrs and cattrs writes with no tuning: cattrs' preconfigured orjson converter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import attrs
import cattrs
import cattrs.preconf.orjson
import cattrs.strategies
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


# --- cattrs defaults ---------------------------------------------------------------------------
# What a user of attrs + cattrs writes without tuning: frozen attrs classes with the same fields and
# cattrs' preconfigured orjson converter, unknown keys dropped (cattrs' default).
@attrs.frozen
class CaMetadata:
    request_message_generation_api_request_secure_request_id: str | None = None
    retrieve_messages_api_request_secure_request_id: str | None = None
    generation_status: str | None = None
    status_message: str | None = None
    requested_message_count: int | None = None
    generated_message_count: int | None = None
    failed_messages_count: int | None = None
    failed_messages_reason: str | None = None


@attrs.frozen
class CaAccount:
    automation_tool_customer_id: str | None = None


@attrs.frozen
class CaStep:
    step: int
    messageType: str  # noqa: N815 - the wire name, as a cattrs user without renames would write it


@attrs.frozen
class CaLead:
    external_prospect_id: str
    linkedin: str | None = None
    outreach_message: str | None = None
    first_follow_up_message: str | None = None
    share_material_message: str | None = None
    hiring_activity_message: str | None = None
    stage_ambition_message: str | None = None
    no_job_posts: bool | None = None


@attrs.frozen
class CaCampaign:
    automation_tool_campaign_id: str | None = None
    automation_tool_campaign_name: str | None = None
    message_sequence: list[CaStep] = attrs.field(factory=list)
    leads_data: list[CaLead] = attrs.field(factory=list)


@attrs.frozen
class CaRetrieve:
    metadata: CaMetadata
    account: CaAccount = attrs.field(factory=CaAccount)
    campaign: CaCampaign = attrs.field(factory=CaCampaign)


@attrs.frozen
class CaInternal:
    id: str
    requestId: str  # noqa: N815 - wire names
    createdAt: datetime  # noqa: N815
    title: str | None = None
    text: str | None = None
    updatedAt: datetime | None = None  # noqa: N815


@attrs.frozen
class CaEmail:
    id: str
    requestId: str  # noqa: N815
    createdAt: datetime  # noqa: N815
    title: str | None = None
    body: str | None = None
    status: str | None = None
    sendOn: datetime | None = None  # noqa: N815
    updatedAt: datetime | None = None  # noqa: N815


@attrs.frozen
class CaSms:
    id: str
    requestId: str  # noqa: N815
    createdAt: datetime  # noqa: N815
    body: str | None = None
    status: str | None = None
    sendOn: datetime | None = None  # noqa: N815
    title: str | None = None
    updatedAt: datetime | None = None  # noqa: N815


CA_CONVERTER = cattrs.preconf.orjson.make_converter()
cattrs.strategies.configure_tagged_union(
    CaInternal | CaEmail | CaSms,
    CA_CONVERTER,
    tag_name="channel",
    tag_generator={CaInternal: "internal", CaEmail: "email", CaSms: "sms"}.__getitem__,
)
CaMessages = list[CaInternal | CaEmail | CaSms]
