"""The requests of one push for the objects that differ, and the conflict rule.

Every request the remote accepts is recorded at once (bridge.store.push_queries), so the
remote never holds an event of calbridge's that calbridge does not know about, and only the
hrefs recorded there are ever replaced or deleted. The conflict rule is explained in
bridge.push.pusher.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.store import Store
from bridge.store.push_queries import PushedObject
from feeds.calendar_objects import CalendarObject

from .remote import Remote, Reply, holds_uid
from .results import PushResult


@dataclass
class ObjectSender:
    """One push's requests for the objects that differ, recorded as they are accepted."""

    store: Store
    target_id: int
    remote: Remote
    result: PushResult
    problems: list[str] = field(default_factory=list)

    def create(self, obj: CalendarObject) -> None:
        href = self.remote.href_for(obj.uid)
        reply = self.remote.create(href, obj.data)
        if reply.status == 412:  # something is there: ours if it holds our UID
            self.result.conflicts += 1
            current = self.remote.get(href)
            if current.status != 200 or not holds_uid(current.body, obj.uid):
                self.problems.append(f"{href} holds an event calbridge did not create; left alone")
                return
            reply = self.remote.put(href, obj.data, if_match=current.etag)
        if self._accepted(reply, obj.uid, href):
            self._record(obj, href, reply)
            self.result.created += 1

    def update(self, obj: CalendarObject, pushed: PushedObject) -> None:
        reply = self.remote.put(pushed.href, obj.data, if_match=pushed.remote_etag)
        if reply.status in (404, 412):  # changed or removed in the remote calendar
            self.result.conflicts += 1
            current = self.remote.get(pushed.href)
            if current.status == 404:
                reply = self.remote.create(pushed.href, obj.data)
            elif current.status == 200 and holds_uid(current.body, obj.uid):
                reply = self.remote.put(pushed.href, obj.data, if_match=current.etag)
            else:
                self.store.forget_pushed(self.target_id, obj.uid)  # no longer ours
                self.problems.append(f"{pushed.href} now holds another event; left alone")
                return
        if self._accepted(reply, obj.uid, pushed.href):
            self._record(obj, pushed.href, reply)
            self.result.updated += 1

    def delete(self, pushed: PushedObject) -> None:
        reply = self.remote.delete(pushed.href, if_match=pushed.remote_etag)
        if reply.status == 412:
            self.result.conflicts += 1
            current = self.remote.get(pushed.href)
            if current.status == 200 and not holds_uid(current.body, pushed.uid):
                self.store.forget_pushed(self.target_id, pushed.uid)  # not ours to delete
                return
            if current.status == 200:
                reply = self.remote.delete(pushed.href, if_match=current.etag)
            else:
                reply = Reply(current.status)
        if reply.status in (200, 204, 404, 410):  # gone either way
            self.store.forget_pushed(self.target_id, pushed.uid)
            self.result.deleted += 1
        else:
            self.problems.append(f"DELETE {pushed.href} answered HTTP {reply.status}")

    def _accepted(self, reply: Reply, uid: str, href: str) -> bool:
        if 200 <= reply.status < 300:
            return True
        if reply.status == 412:
            self.problems.append(f"{href} changed again while it was being written; next time")
        else:
            self.problems.append(f"PUT {href} (UID {uid}) answered HTTP {reply.status}")
        return False

    def _record(self, obj: CalendarObject, href: str, reply: Reply) -> None:
        pushed = PushedObject(obj.uid, href, obj.etag, reply.etag)
        self.store.record_pushed(self.target_id, pushed)
