// Element types of tensors. 16-bit floats are stored as raw uint16 bits.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace sotr {

enum class DType : int { F32 = 0, F16 = 1, BF16 = 2, U8 = 3, I32 = 4 };

inline size_t dtypeSize(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::U8: return 1;
    case DType::I32: return 4;
  }
  return 0;
}

inline const char* dtypeName(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    case DType::U8: return "uint8";
    case DType::I32: return "int32";
  }
  return "?";
}

inline bool parseDType(const std::string& s, DType* out) {
  if (s == "float32") *out = DType::F32;
  else if (s == "float16") *out = DType::F16;
  else if (s == "bfloat16") *out = DType::BF16;
  else if (s == "uint8") *out = DType::U8;
  else if (s == "int32") *out = DType::I32;
  else return false;
  return true;
}

}  // namespace sotr
