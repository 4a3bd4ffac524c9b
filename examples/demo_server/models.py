"""What the demo bank's tools return: the structured output (and outputSchema) of each tool.

Every entity carries `id`, the handle the tool manifests template on (`{result.id}`), and the same
value under its domain name (`customer_id`, `account_id`, `transfer_id`), which reads better to an
agent. Models are frozen: a result is a value, not a live row.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Account",
    "Customer",
    "DeletedCustomer",
    "DeletedRecord",
    "Email",
    "Record",
    "RecordUpdate",
    "Transfer",
]

AccountStatus = Literal["open", "closed"]
TransferStatus = Literal["completed", "refunded"]
JsonObject = dict[str, Any]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True)


class Customer(_Value):
    id: str
    customer_id: str
    name: str
    email: str
    created_at: float = Field(description="seconds since the epoch")


class DeletedCustomer(Customer):
    deleted_account_ids: list[str] = Field(description="the customer's accounts, deleted with it (all empty or closed)")


class Account(_Value):
    id: str
    account_id: str
    customer_id: str
    currency: str
    balance_cents: int
    status: AccountStatus


class Transfer(_Value):
    id: str
    transfer_id: str
    from_account_id: str
    to_account_id: str
    amount_cents: int
    memo: str
    status: TransferStatus
    created_at: float
    refunded_by: str | None = Field(description="the refund's id once refunded (rfd_…)")
    refunded_at: float | None


class Record(_Value):
    key: str
    value: JsonObject | None = Field(description="null when there is no such record")
    version: int = Field(description="1 on creation, +1 on every change; 0 when there is no such record")


class RecordUpdate(_Value):
    key: str
    value: JsonObject | None
    version: int
    previous: JsonObject | None = Field(description="the value before; write it back to undo this update")
    previous_version: int


class DeletedRecord(_Value):
    key: str
    value: JsonObject = Field(description="the last value; write it back with update_record to undo")
    version: int
    deleted: Literal[True] = True


class Email(_Value):
    id: str
    to: str
    subject: str
    body: str
    sent_at: float
