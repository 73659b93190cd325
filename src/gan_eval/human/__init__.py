"""Human evaluation (HYPE-infinity, Zhou et al. 2019): people tell generated from real images, one at a time.

- :mod:`~gan_eval.human.study`: a study on disk (arms, image pools drawn once, seeded, encoded identically)
- :mod:`~gan_eval.human.images`: the one image encoding (PNG, nearest-neighbour upscale) and catch images
- :mod:`~gan_eval.human.sessions`: which arm a rater gets, and a session's seeded trial order
- :mod:`~gan_eval.human.store`: every answer in SQLite (WAL), one transaction each; refusals as ``Refused``
- :mod:`~gan_eval.human.scoring`: HYPE error rates, intervals (bootstrap over raters, Wilson), catch trials
- :mod:`~gan_eval.human.agreement`: how well each automatic metric ranks the arms the way people did
- :mod:`~gan_eval.human.export`: a study's trials as a table, and its scores as results-table rows
- :mod:`~gan_eval.human.app`: the rating page and its JSON API (Flask), a thin layer over the above
- :mod:`~gan_eval.human.client`: a Python client of that API, and simulated raters (tests, smoke runs)

Nothing here is imported by ``gan_eval`` itself; the CLI (``gan-eval human``) imports what it needs lazily.
"""
