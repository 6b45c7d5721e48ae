"""The job protocol the API and the workers share: the payload a job carries through the queue, the Redis
layout of its record, inputs and results (``store``), the RQ queue layout (``queue``), the cluster metrics
recorded into Redis, the uploads' decoding, and the settings of both.

Neither torch nor FastAPI is imported here: the workers import this package without loading the web stack,
and the API without loading the model."""
