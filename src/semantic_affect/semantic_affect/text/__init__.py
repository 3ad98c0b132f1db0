"""Text affect: utterance (+ conversation context) -> weighted canonical emotions.

Pure modules (no rclpy): `schema` (reply model), `prompt`, `llm` (OpenAI-compatible backend),
`offline` (sentence embedding + trained head), `policy` (auto/llm/offline with fallback),
`train` (trains the offline head on GoEmotions-Ekman), `goemotions` (data set reader).
"""
