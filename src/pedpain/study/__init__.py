"""The study's rules, in one layer that the web pages, the JSON API, the CLI and the
importer all call: subject codes, time points, scales and scores (:mod:`protocol`),
enrolment (:mod:`enrolment`), media intake (:mod:`intake`), sessions and the nurse's BPS
(:mod:`sessions`), ratings and adjudication (:mod:`ratings`), blinding (:mod:`blinding`),
corrections with their audit trail (:mod:`corrections`), the dashboard's counts
(:mod:`dashboard`), accounts (:mod:`accounts`) and withdrawal (:mod:`withdrawal`).

It sits above ``store`` and ``clinical`` and below ``web`` and ``cli``; refusals are
:mod:`pedpain.core.errors` exceptions (see :mod:`pedpain.study.errors` for the HTTP status
each one carries), so every entry point fails the same way.
"""
