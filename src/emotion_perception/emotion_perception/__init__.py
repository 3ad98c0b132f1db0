"""Camera source, face detection, facial expression recognition (train, evaluate, infer) and multimodal emotion fusion."""
