// Fixture for the core header check's self-test: this file must be flagged.
#include <thread>
