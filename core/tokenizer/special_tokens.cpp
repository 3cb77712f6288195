#include "tokenizer/special_tokens.h"

#include <algorithm>

namespace kvlite {

SpecialTokenSplitter::SpecialTokenSplitter(const Vocab& vocab) {
  for (size_t id = 0; id < vocab.attrs.size() && id < vocab.tokens.size(); ++id) {
    const TokenAttr attr = vocab.attrs[id];
    const bool user = attr == TokenAttr::UserDefined;
    if (vocab.tokens[id].empty()) continue;
    if (user || attr == TokenAttr::Control || attr == TokenAttr::Unknown) {
      specials_.push_back(Special{vocab.tokens[id], int32_t(id), user});
    }
  }
  std::stable_sort(specials_.begin(), specials_.end(),
                   [](const Special& a, const Special& b) { return a.text.size() > b.text.size(); });
}

void SpecialTokenSplitter::split(std::string_view text, bool parse_special, std::vector<Fragment>& out) const {
  out.clear();
  if (text.empty()) return;
  out.push_back(Fragment{text, -1});
  // One pass per special token over the raw fragments left so far, longest
  // token first, so the result does not depend on where a match starts.
  std::vector<Fragment> next;
  for (const Special& special : specials_) {
    if (!parse_special && !special.always) continue;
    next.clear();
    for (const Fragment& fragment : out) {
      if (fragment.is_token()) {
        next.push_back(fragment);
        continue;
      }
      std::string_view rest = fragment.text;
      for (size_t at; (at = rest.find(special.text)) != std::string_view::npos;) {
        if (at > 0) next.push_back(Fragment{rest.substr(0, at), -1});
        next.push_back(Fragment{rest.substr(at, special.text.size()), special.id});
        rest.remove_prefix(at + special.text.size());
      }
      if (!rest.empty()) next.push_back(Fragment{rest, -1});
    }
    out.swap(next);
  }
}

}  // namespace kvlite
