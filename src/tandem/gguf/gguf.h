// tandem/gguf — the GGUF reader (File, TensorInfo), metadata values (Value) and
// the writer (Writer). Include this one header to get all of them; see each
// header for its contract.
#pragma once

#include "tandem/gguf/reader.h"
#include "tandem/gguf/value.h"
#include "tandem/gguf/writer.h"
