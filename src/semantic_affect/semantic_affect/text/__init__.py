"""Text affect: utterance (+ conversation context) -> weighted canonical emotions.

Pure modules (no rclpy): `config` (the options, node and CLI), `schema` (reply model and tolerant
parsing), `quality` (uninformative replies), `structured` (response_format negotiation per server),
`prompt`, `llm` (OpenAI-compatible backend, budgeted retries), `offline` (sentence embedding +
trained head), `policy` (auto/llm/offline with fallback),
`train` (trains the offline head on GoEmotions-Ekman), `goemotions` (data set reader).
"""
