"""The conversation worker: one chat at a time, many chats at once."""

from helpdesk.conversation.queue import ChatQueue
from helpdesk.conversation.respond import ConversationService, Outlet, Reply

__all__ = ["ChatQueue", "ConversationService", "Outlet", "Reply"]
