"""The brain: knowledge-base retrieval and answers (LLM or offline), as one facade.

Other rooms use only `load_brain(settings)` and the returned `Brain`.
"""

from helpdesk.brain.answer import Brain, load_brain

__all__ = ["Brain", "load_brain"]
