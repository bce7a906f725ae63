"""Text as the discriminator's tokenizer splits it in the label slot, shared by every readout's scorer."""

from __future__ import annotations


class LabelSlotTokens:
    """For a class with `.tokenizer` and a `.template` that has `label_lead` (the whitespace before {label})."""

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def label_ids(self, label: str) -> list[int]:
        """Token ids of a text label as it stands in the label slot (with the template's lead space)."""
        ids = self._encode(self.template.label_lead + label)
        if not ids:
            raise ValueError(f"label {label!r} is empty after tokenization")
        return ids
