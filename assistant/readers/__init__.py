"""The answerers (readers): ``combined`` (the default: the rules' decision, the trained reader's sentence), ``rules``
(hand-written), ``trained`` (the learned reader), and the opt-in LLM step.

Each is registered by name in ``assistant.backends`` and chosen by the ``reader`` setting.
"""
