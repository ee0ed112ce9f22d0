.PHONY: demo test lint setup

# Set up, generate three days, run the pipeline and print the four answers.
demo:
	bash scripts/demo.sh

# Run the whole test suite (sets up first if needed).
test:
	bash scripts/test.sh

setup:
	bash scripts/setup.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
