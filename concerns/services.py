"""Concern services: plain functions over a SQLAlchemy session; they never commit.

The services live in modules named for their job; this module re-exports their public
names, so `from concerns import services` / `from concerns.services import X` keep
working for every caller written before the split:

* `concerns.submission` — validate, encrypt and store a new concern (→ receipt);
* `concerns.conversation` — the reporter's side: receipt keys, reading, replying;
* `concerns.handling` — the handler's side: inbox, reading (audited), replies, notes,
  status changes, reopening, attachments;
* `concerns.sharing` — sharing with another handler, recovery, recusal;
* `concerns.retention` — erasing the content of long-closed concerns;
* `concerns.categories` — the category list;
* `concerns.messages` — what those share: text checks, sealing, readers, decrypting;
* `concerns.errors` — the named errors they raise.

Anonymity rules 1–3 of DESIGN.md are kept there: a reporter's rows carry dates only;
every message is sealed with a fresh data key wrapped to its readers; the receipt is
never stored, only `crypto.receipt_lookup_key` of it.
"""

from __future__ import annotations

from concerns.categories import MAX_CATEGORY_LABEL, add_category, list_categories, update_category
from concerns.conversation import (
    CHECK_BUCKET,
    ReceiptKeys,
    count_receipt_use,
    open_conversation,
    open_reporter_attachment,
    receipt_keys,
    reopen_until,
    reporter_reply,
)
from concerns.errors import (
    ConcernClosedError,
    ConcernError,
    ConcernNotFoundError,
    ConversationMovedOnError,
    FieldError,
    FieldErrors,
    MalformedReceiptError,
    NoAccessError,
    NotReadyError,
    RateLimitedError,
    ReceiptNotFoundError,
    RecusalError,
    ShareError,
    StampUsedError,
    StatusChangeError,
)
from concerns.handling import (
    INBOX_FILTERS,
    INBOX_SORTS,
    HandlerView,
    InboxRow,
    change_status,
    days_between,
    handler_message,
    inbox,
    mark_excluded,
    next_statuses,
    open_attachment,
    read_concern,
    reopen_concern,
)
from concerns.messages import (
    MAX_MESSAGE,
    MAX_SEQ,
    MAX_WHAT_HAPPENED,
    MAX_WHAT_WANTED,
    NOT_READY,
    ConcernSummary,
    Conversation,
    MessageView,
    clean_text,
)

# The model names the module had in its namespace before the split (some callers reach
# for them here, e.g. `services.ConcernCategory`).
from concerns.models import (
    ALL_OUTCOMES,
    EXCLUDED_OUTCOMES,
    OUTCOMES,
    STATUS_LABELS,
    STATUS_ORDER,
    Concern,
    ConcernCategory,
    ConcernExclusion,
    ConcernKeyWrap,
    ConcernMessage,
    MessageKind,
    Reader,
    Status,
)
from concerns.retention import purge_expired
from concerns.sharing import (
    recover_access,
    recovery_contacts,
    recuse,
    share_candidates,
    share_concern,
    sole_reader,
)
from concerns.submission import (
    CHOOSE_CATEGORY,
    STAMPED_BUCKET,
    SUBMIT_BUCKET,
    PreparedReport,
    ReadersHint,
    Report,
    SealedReport,
    issue_wait_stamp,
    new_concern_id,
    new_concern_readers,
    prepare_report,
    seal_report,
    store_new_concern,
    store_report,
    submit_concern,
    validate_report,
)

__all__ = [
    "ALL_OUTCOMES", "EXCLUDED_OUTCOMES", "OUTCOMES", "STATUS_LABELS", "STATUS_ORDER",
    "Concern", "ConcernCategory", "ConcernExclusion", "ConcernKeyWrap", "ConcernMessage",
    "MessageKind", "Reader", "Status",
    "CHECK_BUCKET", "CHOOSE_CATEGORY", "INBOX_FILTERS", "INBOX_SORTS", "MAX_CATEGORY_LABEL",
    "MAX_MESSAGE", "MAX_SEQ", "MAX_WHAT_HAPPENED", "MAX_WHAT_WANTED", "NOT_READY",
    "STAMPED_BUCKET", "SUBMIT_BUCKET",
    "ConcernClosedError", "ConcernError", "ConcernNotFoundError", "ConcernSummary",
    "Conversation", "ConversationMovedOnError", "FieldError", "FieldErrors", "HandlerView",
    "InboxRow", "MalformedReceiptError", "MessageView", "NoAccessError", "NotReadyError",
    "PreparedReport", "RateLimitedError", "ReadersHint", "ReceiptKeys",
    "ReceiptNotFoundError", "RecusalError", "Report", "SealedReport", "ShareError",
    "StampUsedError", "StatusChangeError",
    "add_category", "change_status", "clean_text", "count_receipt_use", "days_between",
    "handler_message", "inbox", "issue_wait_stamp", "list_categories", "mark_excluded",
    "new_concern_id",
    "new_concern_readers", "next_statuses", "open_attachment", "open_conversation",
    "open_reporter_attachment",
    "prepare_report", "purge_expired", "read_concern", "receipt_keys", "recover_access",
    "recovery_contacts", "recuse", "sole_reader", "reopen_concern", "reopen_until",
    "reporter_reply", "seal_report",
    "share_candidates", "share_concern", "store_new_concern", "store_report",
    "submit_concern", "update_category", "validate_report",
]
