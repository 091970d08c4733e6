"""Answer-or-abstain: re-rank the top candidates with lexical evidence and decide with a small learned gate.

``anchors.py``: off-topic anchor questions (weather, loans, other platforms' rules…) a shop KB never answers.
``model.py``: the logistic gate (weights in ``weights.json``, trained by ``python -m knowledge.gate.train``).
``lexicon.py``: per-tenant n-gram document frequencies and the platforms the KB never mentions.
``decide.py``: features for the top candidate and the decision, used by ``KnowledgeService.search``.
``platforms_zh.txt``: other shopping platforms; a question about one the KB never mentions is declined.
"""
