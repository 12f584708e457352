"""The study's rules: enrolment, sessions, media intake, ratings, blinding, corrections,
withdrawal; the prospective cohort's validation and model promotion. Below ``web`` and
``cli``; it calls ``assess`` and ``evaluation``, never the other way round."""
