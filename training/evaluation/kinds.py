"""The job kinds of evaluation and the Celery task that runs each."""

GENERATE = "eval.generate"  # a gateway endpoint answers the benchmark (``llm`` queue)
GENERATE_LOCAL = "eval.generate_local"  # a checkpoint answers it, on this worker (``gpu`` queue)
JUDGE = "eval.judge"  # the judge grades and compares (``llm`` queue)

TASKS = {
    GENERATE: "llm.eval_generate",
    GENERATE_LOCAL: "gpu.eval_generate",
    JUDGE: "llm.eval_judge",
}
