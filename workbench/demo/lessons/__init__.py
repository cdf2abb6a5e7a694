"""The guided lessons of the classroom: what to read, what to do, and how we know it worked.

Pure data and pure checks, no Textual: a :class:`Lesson` carries its text and a ``check``
function; a :class:`LessonTracker` takes a baseline when a lesson starts and, on every engine
snapshot, hands the check a :class:`LessonState` (baseline, latest snapshot, the records and
events that arrived since) and returns a :class:`CheckResult`. Checks read only plain snapshot
data and finished records, so they are unit-tested with hand-built dicts.

Only the student's own actions count. Requests count when they carry the lesson's marker
(``?student=...`` in the URL, or an ``X-Student`` header; the demo traffic never sends either),
rules count when they were added after the lesson started, and weight changes and kills count
when the check saw them happen. A lesson whose proxy the running configuration lacks says so
(:func:`unmet_needs`) instead of sending the student to a port nothing listens on.

Steps and concepts may contain placeholders that :func:`fill` replaces with live values:
``{reverse}``, ``{forward}``, ``{admin}``, ``{origin}`` (a demo backend's URL), ``{origin_host}``
(its ``host:port``), ``{origin_port}``, ``{mark}`` (the query marker), ``{privacy}`` (the
forward proxy's privacy mode now), ``{kill_key}`` (the Backends view's kill key, as bound),
``{secure_origin}`` (the classroom's HTTPS origin, ``https://localhost:PORT``),
``{secure_port}`` (its port) and ``{weights}`` (the live weights of web-2's pool and the shares
they give).

The package: :mod:`.model` (the types), :mod:`.catalogue` (the lessons), :mod:`.checks_forward`
and :mod:`.checks_reverse` (their checks), :mod:`.reading` (snapshot and record helpers),
:mod:`.needs`, :mod:`.placeholders` and :mod:`.tracker`. Import from here.
"""

from workbench.demo.lessons.catalogue import LESSONS, lesson_by_id
from workbench.demo.lessons.checks_forward import (
    check_intercept,
    check_read,
    check_server_sees,
    check_tls,
    check_two_proxies,
)
from workbench.demo.lessons.checks_reverse import (
    check_access,
    check_balancing,
    check_caching,
    check_failover,
)
from workbench.demo.lessons.model import MARK, CheckResult, Lesson, LessonState
from workbench.demo.lessons.needs import unmet_needs
from workbench.demo.lessons.placeholders import addresses, fill
from workbench.demo.lessons.reading import is_students, request_line
from workbench.demo.lessons.tracker import LessonTracker

__all__ = [
    "LESSONS",
    "MARK",
    "CheckResult",
    "Lesson",
    "LessonState",
    "LessonTracker",
    "addresses",
    "check_access",
    "check_balancing",
    "check_caching",
    "check_failover",
    "check_intercept",
    "check_read",
    "check_server_sees",
    "check_tls",
    "check_two_proxies",
    "fill",
    "is_students",
    "lesson_by_id",
    "request_line",
    "unmet_needs",
]
