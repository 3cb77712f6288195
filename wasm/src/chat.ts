// Chat prompts from the model's own template family. GGUF files carry a Jinja
// template in tokenizer.chat_template; rather than run Jinja, we recognise the
// families that cover the models people run in a browser by their marker
// tokens and format the conversation the way each family's template does.
// BOS is left out: the engine adds it at the start of a conversation.
import type { ChatFamily, ChatMessage } from "./types.js";

// Families whose architecture has one chat format, for files that carry no
// template: Qwen2.5/Qwen3 speak ChatML, Gemma 2/3 and Phi-3 their own.
const FAMILY_OF_ARCHITECTURE: Record<string, ChatFamily> = {
  qwen2: "chatml",
  qwen3: "chatml",
  gemma2: "gemma",
  gemma3: "gemma",
  phi3: "phi3",
};

export function detectChatFamily(template: string | undefined, architecture?: string): ChatFamily | null {
  if (!template) return (architecture && FAMILY_OF_ARCHITECTURE[architecture]) || null;
  if (template.includes("<|start_header_id|>")) return "llama3";
  if (template.includes("<|im_start|>")) return "chatml";
  if (template.includes("<start_of_turn>")) return "gemma";
  // Zephyr-style templates also use <|user|>, but end turns with </s>, not <|end|>.
  if (template.includes("<|assistant|>") && template.includes("<|end|>")) return "phi3";
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
    case "gemma":
      return formatGemma(messages);
    case "phi3":
      return messages.map((m) => `<|${m.role}|>\n${m.content}<|end|>\n`).join("") + "<|assistant|>\n";
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

// Gemma: turns are <start_of_turn>user / model ... <end_of_turn>, contents
// trimmed. There is no system role: Gemma 3's template puts the system
// prompt at the head of the first user turn, and so do we.
function formatGemma(messages: ChatMessage[]): string {
  let system = "";
  let out = "";
  for (const m of messages) {
    if (m.role === "system") {
      system = m.content.trim();
      continue;
    }
    const content = system ? `${system}\n\n${m.content.trim()}` : m.content.trim();
    if (m.role === "user") system = "";
    out += `<start_of_turn>${m.role === "assistant" ? "model" : "user"}\n${content}<end_of_turn>\n`;
  }
  return out + "<start_of_turn>model\n";
}
