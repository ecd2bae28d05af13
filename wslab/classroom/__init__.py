"""The instructor's tools: ``wslab serve`` (:mod:`~wslab.classroom.serve`) and the
instructor's dashboard (:mod:`~wslab.classroom.instructor_dashboard`)."""

__all__: list[str] = []  # import the modules themselves
