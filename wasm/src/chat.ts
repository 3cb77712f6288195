// Chat prompts from the model's own template family. GGUF files carry a Jinja
// template in tokenizer.chat_template; rather than run Jinja, we recognise the
// three families that cover most llama-architecture models by their marker
// tokens and format the conversation the way each family's template does.
// BOS is left out: the engine adds it at the start of a conversation.
import type { ChatFamily, ChatMessage } from "./types.js";

export function detectChatFamily(template: string | undefined): ChatFamily | null {
  if (!template) return null;
  if (template.includes("<|start_header_id|>")) return "llama3";
  if (template.includes("<|im_start|>")) return "chatml";
  if (template.includes("[INST]")) return "llama2";
  return null;
}

/** The prompt text for `messages`, ending where the assistant's reply begins. */
export function formatChat(family: ChatFamily | null, messages: ChatMessage[]): string {
  switch (family) {
    case "llama3":
      return (
        messages.map((m) => `<|start_header_id|>${m.role}<|end_header_id|>\n\n${m.content.trim()}<|eot_id|>`).join("") +
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
      );
    case "chatml":
      return messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join("") + "<|im_start|>assistant\n";
    case "llama2":
      return formatLlama2(messages);
    default:
      // No template: a plain transcript that base models continue sensibly.
      return messages.map((m) => `${m.role}: ${m.content}\n`).join("") + "assistant:";
  }
}

// Llama 2: the system prompt sits inside the first [INST] block; each user
// turn is wrapped in [INST] ... [/INST], each assistant answer closed by </s>
// and the next turn opened with <s>.
function formatLlama2(messages: ChatMessage[]): string {
  let system = "";
  let out = "";
  let first = true;
  for (const m of messages) {
    if (m.role === "system") {
      system = m.content.trim();
    } else if (m.role === "user") {
      const sys = first && system ? `<<SYS>>\n${system}\n<</SYS>>\n\n` : "";
      out += `${first ? "" : "<s>"}[INST] ${sys}${m.content.trim()} [/INST]`;
      first = false;
    } else {
      out += ` ${m.content.trim()} </s>`;
    }
  }
  return out;
}
