"""What clients send (request bodies, with examples for `/docs`) and the health answer.

Field names are the warehouse's own. Values are checked by the service layer with the inbox
contracts, like a row of an inbox file; here only their JSON types are declared.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from allocation.domain.policy import Policy
from allocation.service_layer.runs import RunListing


class NewBatch(BaseModel):
    """A batch to add: no eta means in stock."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"reference": "b-chair-1", "sku": "RED-CHAIR", "purchased_quantity": 20},
                {
                    "reference": "b-ship-chair-2",
                    "sku": "RED-CHAIR",
                    "purchased_quantity": 50,
                    "eta": "2026-12-24",
                },
            ]
        },
    )

    reference: str
    sku: str
    purchased_quantity: int = Field(description="Units purchased, 0 to 1,000,000,000.")
    eta: date | None = Field(None, description="Expected arrival; none = in stock.")


class NewLine(BaseModel):
    """An order line to allocate now, by the nightly's rules."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"order_id": "o-1001", "sku": "RED-CHAIR", "qty": 3},
                {
                    "order_id": "o-1002",
                    "sku": "RED-CHAIR",
                    "qty": 10,
                    "priority": 5,
                    "policy": "whole",
                },
            ]
        },
    )

    order_id: str
    sku: str
    qty: int = Field(description="Units ordered, 1 to 1,000,000,000.")
    priority: int = Field(0, description="Higher is served first.")
    policy: Policy | None = Field(None, description="Default: the server's ALLOCATION_POLICY.")


class Health(BaseModel):
    """The warehouse is readable: its schema version and the last committed run."""

    status: str = Field(examples=["ok"])
    schema_version: int
    last_committed_run: RunListing | None
