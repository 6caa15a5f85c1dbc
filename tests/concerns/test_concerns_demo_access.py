"""`speakup demo` gives the demo handler a key pair before the demo concerns are made."""

from sqlalchemy import func, select

from concerns.models import Concern, ConcernKeyWrap
from speakup import accounts
from speakup.demo import seed_demo


def test_demo_handler_can_read_every_demo_concern(app, session):
    said: list[str] = []
    seed_demo(app, said.append)
    handler = accounts.find_user(session, "handler@demo.speakup.local")
    assert handler is not None
    concerns = session.scalar(select(func.count()).select_from(Concern))
    readable = session.scalar(
        select(func.count(func.distinct(ConcernKeyWrap.concern_id))).where(
            ConcernKeyWrap.reader_kind == "handler", ConcernKeyWrap.reader_id == handler.id
        )
    )
    assert concerns >= 30
    assert readable == concerns
