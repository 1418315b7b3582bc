"""Why a generated sequence ended: one name each, shared by sampling and the summary searches."""

STOP_LENGTH = "max_new_tokens"  # the token limit was reached
STOP_EOS = "end_of_text"  # the model emitted </s>
STOP_CONTEXT = "context_full"  # the sequence reached the model's context
STOP_BUDGET = "word_budget"  # the summary's word budget is full
