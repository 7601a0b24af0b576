"""Conversations and feedback: owner-only; every id-taking route answers 404 to anyone else."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field, StringConstraints

from app.deps import PrincipalDep, Services, ServicesDep
from app.routes.errors import AUTH, BODY, errors
from app.routes.origin import same_origin
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


WITHHELD_TITLE = "A source you may no longer read"


def readable_view(data: dict[str, Any], principal: Principal, services: Services) -> dict[str, Any]:
    """A stored conversation with the sources and citations of documents the caller may no
    longer read (their groups narrowed, the key changed, the document was restricted or
    removed) withheld: what was stored with an answer must not outlive the right to read it."""
    readable: dict[str, bool] = {}

    def may_read(document_id: str) -> bool:
        if document_id not in readable:
            stored = services.store.get_document(document_id, principal.readable_groups)
            readable[document_id] = stored is not None
        return readable[document_id]

    for message in data["messages"]:
        details = message["details"]
        for key, number in (("sources", "n"), ("citations", "marker")):
            if isinstance(details.get(key), list):
                details[key] = [
                    item if may_read(str(item.get("document_id", ""))) else _withheld(item, number)
                    for item in details[key]
                ]
    return data


def _withheld(item: dict[str, Any], number: str) -> dict[str, Any]:
    """A source or citation kept only as its number: no id, title, text or link."""
    return {
        number: item.get(number),
        "document_id": "",
        "title": WITHHELD_TITLE,
        "url": None,
        "heading": "",
        **({"snippet": ""} if "snippet" in item else {"span": ""}),
        "withheld": True,
    }


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
