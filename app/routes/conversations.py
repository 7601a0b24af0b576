"""Conversations and feedback: owner-only; every id-taking route answers 404 to anyone else."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field, StringConstraints

from app.deps import PrincipalDep, Services, ServicesDep
from app.routes.errors import AUTH, BODY, errors
from app.routes.origin import same_origin
from app.withheld import readability, readable_message
from index.errors import NotFoundError
from index.types import Principal

router = APIRouter(prefix="/api", tags=["conversations"], dependencies=[Depends(same_origin)])


@router.get("/conversations", responses=errors(*AUTH))
def list_conversations(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    """The caller's conversations, most recent first."""
    return {
        "conversations": [
            {"id": c.id, "title": c.title, "created_at": c.created_at, "updated_at": c.updated_at}
            for c in services.conversations.list_for(principal.user)
        ]
    }


@router.get("/conversations/{conversation_id}", responses=errors(*AUTH, 404, 422))
def get_conversation(
    conversation_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """The conversation and its messages; each assistant message carries `rating`, the
    caller's own thumbs on it ("up", "down" or null), so a reopened page shows it."""
    conversation = services.conversations.get(conversation_id, principal.user)
    if conversation is None:
        raise NotFoundError("conversation not found")
    return readable_view(conversation.as_dict(), principal, services)


@router.get(
    "/conversations/{conversation_id}/export",
    responses={
        200: {"description": "The conversation as a JSON file (attachment)."},
        **errors(*AUTH, 404, 422),
    },
)
def export_conversation(
    conversation_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    """The whole conversation as a JSON file download."""
    conversation = services.conversations.get(conversation_id, principal.user)
    if conversation is None:
        raise NotFoundError("conversation not found")
    import json

    view = readable_view(conversation.as_dict(), principal, services)
    body = json.dumps({"format": "hearth-conversation/1", **view}, indent=2)
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="conversation-{conversation.id}.json"'
        },
    )


def readable_view(data: dict[str, Any], principal: Principal, services: Services) -> dict[str, Any]:
    """A stored conversation as its owner may see it now (app/withheld.py)."""
    may_read = readability(services.store, principal)
    return {**data, "messages": [readable_message(m, may_read) for m in data["messages"]]}


class Rename(BaseModel):
    # stripped before the length check: "   " was stored as "Untitled" and answered as ""
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


@router.patch("/conversations/{conversation_id}", responses=errors(*BODY, 404))
def rename_conversation(
    conversation_id: str, body: Rename, principal: PrincipalDep, services: ServicesDep
) -> dict[str, str]:
    if not services.conversations.rename(conversation_id, principal.user, body.title):
        raise NotFoundError("conversation not found")
    return {"id": conversation_id, "title": body.title}


@router.delete(
    "/conversations/{conversation_id}", status_code=204, responses=errors(*AUTH, 403, 404, 422)
)
def delete_conversation(
    conversation_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    if not services.conversations.delete(conversation_id, principal.user):
        raise NotFoundError("conversation not found")
    return Response(status_code=204)


class Feedback(BaseModel):
    rating: Literal["up", "down"]
    comment: str = Field("", max_length=2000)


@router.post("/messages/{message_id}/feedback", responses=errors(*BODY, 404))
def feedback(
    message_id: str, body: Feedback, principal: PrincipalDep, services: ServicesDep
) -> dict[str, str]:
    """Rate one of your answers (thumbs up/down, optional comment); rating again replaces it."""
    feedback_id = services.conversations.add_feedback(
        message_id, principal.user, body.rating, body.comment
    )
    if feedback_id is None:
        raise NotFoundError("message not found")
    return {"id": feedback_id, "rating": body.rating}
