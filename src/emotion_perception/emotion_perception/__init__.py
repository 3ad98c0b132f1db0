"""Camera source, face detection, expression recognition (train, evaluate, infer) and multimodal fusion."""
