// Ending signals (SIGINT, SIGTERM, SIGHUP) seen while the JS thread is busy. Node runs signal
// listeners only when its event loop turns, which a synchronous training loop never lets happen: this
// handler records the signal's number in a buffer JS reads at each eval, then hands the signal on to
// the handler that was there before (libuv's, which queues it for the JS listeners as usual).
#include <napi.h>
#include <signal.h>

#include <cstring>

namespace mlxtrace {
namespace {

constexpr int kMaxSignal = 65;
// [0]: the latest ending signal's number, 0 once JS handled it. Static, so a signal that arrives
// while the JS environment goes away still writes to memory that stays.
int32_t g_pending[2];
struct sigaction g_prev[kMaxSignal];
bool g_installed[kMaxSignal];

void on_signal(int sig, siginfo_t* info, void* ctx) {
  __atomic_store_n(&g_pending[0], sig, __ATOMIC_RELAXED);
  const struct sigaction& prev = g_prev[sig];
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction) prev.sa_sigaction(sig, info, ctx);
  } else if (prev.sa_handler == SIG_DFL) {
    // Nobody listens: the default action, as if this handler were not here.
    sigaction(sig, &prev, nullptr);
    raise(sig);
  } else if (prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
  }
}

}  // namespace

// watchSignals([signo...]) -> ArrayBuffer whose first int32 is the pending signal's number. Install after the
// JS listeners (so libuv's handler is the one chained to); a signal already watched is left as it is.
Napi::Value WatchSignals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array sigs = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < sigs.Length(); i++) {
    int sig = sigs.Get(i).As<Napi::Number>().Int32Value();
    if (sig <= 0 || sig >= kMaxSignal || g_installed[sig]) continue;
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (sigaction(sig, &sa, &g_prev[sig]) == 0) g_installed[sig] = true;
  }
  // A view of the static word, which JS reads at each eval (no copy, nothing to free).
  return Napi::ArrayBuffer::New(env, g_pending, sizeof(g_pending));
}

}  // namespace mlxtrace
