// kSanitized — true when the tests are built with AddressSanitizer (GCC or
// Clang), for tests whose budgets (time, memory) must widen under it.
#pragma once

namespace tandem::testing {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

}  // namespace tandem::testing
