"""The task registry: one declarative entry per task.

Export, quantize, validate, the runtime, the CLI and the tests all read this table. Adding a task is
adding an entry here (plus its pipeline in `runtime/pipelines/` and its export families in
`export/families/`), never an if-chain elsewhere.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import names
from .registry import Registry


@dataclass(frozen=True)
class Tolerance:
    """Elementwise |a - b| <= atol * S + rtol * |b| on every output tensor, where S = max(1, max |b|) of
    that output (the reference's own scale) when `scaled`, else 1 (a plain absolute atol)."""

    atol: float
    rtol: float
    scaled: bool = True


# Defaults per precision; a task may override them in its entry.
DEFAULT_TOLERANCES = {
    "fp32": Tolerance(atol=1e-4, rtol=1e-3),
    "fp16": Tolerance(atol=5e-2, rtol=5e-2),
    "int8": Tolerance(atol=2.5e-1, rtol=2.5e-1),
}


@dataclass(frozen=True)
class CliOption:
    """A `edgetool run` option a task accepts, passed to the pipeline as keyword `kwarg`."""

    flag: str  # e.g. "--top-k"
    kwarg: str  # e.g. "top_k"
    type: Any = str  # click type: str, int, float, bool (flag), "csv" (comma-separated list), "multi" (repeatable)
    help: str = ""


@dataclass(frozen=True)
class TaskSpec:
    name: str  # the canonical Hugging Face pipeline name
    aliases: tuple[str, ...]
    modality: str  # text | image | audio | multimodal
    summary: str
    # "module:Class" under edgetool.runtime.pipelines; None while the task is not implemented.
    pipeline: str | None = None
    # Metric (name in edgetool/check/metrics.py) comparing pipeline results with reference results.
    metric: str | None = None  # every implemented task names one (tests/check/test_metrics.py)
    # Minimum value of the metric for validation to pass, per precision.
    metric_floor: dict[str, float] = field(default_factory=lambda: {"fp32": 1.0, "fp16": 0.9, "int8": 0.8, "int4": 0.7})
    tolerances: dict[str, Tolerance] = field(default_factory=lambda: dict(DEFAULT_TOLERANCES))
    # Per-output overrides: precision -> {output name or "graph/output" (fnmatch pattern): Tolerance}.
    output_tolerances: dict[str, dict[str, Tolerance]] = field(default_factory=dict)
    cli_options: tuple[CliOption, ...] = ()
    # How `edgetool run` turns its positional INPUT into the pipeline's first argument.
    input_kind: str = "text"  # text | image | audio | none
    # `edgetool export` switches of this task, passed to the recipe as ExportOptions.extra[kwarg].
    export_options: tuple[CliOption, ...] = ()
    # TensorRT optimization profiles: (min, opt, max) per named dim, over backends/tensorrt/profiles.py TYPICAL_DIMS.
    typical_dims: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    @property
    def implemented(self) -> bool:
        return self.pipeline is not None

    def tolerance(self, precision: str) -> Tolerance:
        return self.tolerances.get(precision, DEFAULT_TOLERANCES.get(precision, DEFAULT_TOLERANCES["fp32"]))


TOP_K = CliOption("--top-k", "top_k", int, "How many results to return (default: the pipeline's).")
THRESHOLD = CliOption("--threshold", "threshold", float, "Score threshold for kept results.")
SAVE = CliOption("--save", "save", str, "Write a picture of the result to this PNG file.")
MAX_NEW = CliOption("--max-new-tokens", "max_new_tokens", int, "How many tokens to generate at most.")
STREAM = CliOption("--stream", "stream", bool, "Print tokens as they are generated.")
NUM_BEAMS = CliOption("--num-beams", "num_beams", int, "Beam search width (1 = greedy).")
DO_SAMPLE = CliOption("--do-sample", "do_sample", bool, "Sample instead of greedy decoding.")
SEED = CliOption("--seed", "seed", int, "Random seed for sampling.")
MIN_P = CliOption("--min-p", "min_p", float, "Sampling: drop tokens less likely than MIN_P x the top token (0..1).")
STOP = CliOption("--stop", "stop_strings", "multi",
                 "Stop once the text ends with this string, kept in the output (repeatable).")
GEN_OPTIONS = (MAX_NEW, STREAM, NUM_BEAMS, DO_SAMPLE, SEED, MIN_P, STOP)
# Decoders with a KV cache: TensorRT checks the graph's shape constraints at min, opt and max alike, so each
# point keeps total = past + sequence; opt is a decode step (1 new token) after 127 cached ones.
GEN_TYPICAL = {names.SEQUENCE: (1, 1, 256), names.PAST_SEQUENCE: (0, 127, 768), names.TOTAL_SEQUENCE: (1, 128, 1024)}

_TASKS = [
    TaskSpec(
        "text-classification", ("classify", "sentiment-analysis"), "text",
        "Label a text (or a text pair) with scores.",
        pipeline="text_classification:TextClassificationPipeline",
        metric="label_agreement",
        cli_options=(
            TOP_K,
            CliOption("--function-to-apply", "function_to_apply", str, "softmax | sigmoid | none"),
            CliOption("--text-pair", "text_pair", str, "Second text of a pair."),
        ),
    ),
    TaskSpec("token-classification", ("ner",), "text", "Label each entity in a text (NER).",
             pipeline="token_classification:TokenClassificationPipeline",
             metric="entity_f1",
             cli_options=(CliOption("--aggregation-strategy", "aggregation_strategy", str,
                                    "none | simple | first | average | max"),
                          CliOption("--ignore-labels", "ignore_labels", "csv", "Labels to drop (default: O)."),
                          CliOption("--stride", "stride", int, "Overlap (tokens) of the windows over a long text."))),
    TaskSpec("question-answering", ("qa",), "text", "Extract the answer span to a question from a context.",
             pipeline="question_answering:QuestionAnsweringPipeline",
             metric="answer_exact_match", input_kind="none",
             cli_options=(CliOption("--question", "question", str, "The question."),
                          CliOption("--context", "context", str, "The text that holds the answer."), TOP_K,
                          CliOption("--max-answer-len", "max_answer_len", int, "Longest answer, in tokens (15)."),
                          CliOption("--doc-stride", "doc_stride", int, "Overlap of the windows over a long context."),
                          CliOption("--handle-impossible-answer", "handle_impossible_answer", bool,
                                    "Allow the empty answer."))),
    TaskSpec("fill-mask", ("mask",), "text", "Predict the masked token(s) of a text.",
             pipeline="fill_mask:FillMaskPipeline",
             metric="topk_agreement", cli_options=(TOP_K, CliOption("--targets", "targets", "csv", "Only score these words."))),
    TaskSpec("feature-extraction", ("embed", "embeddings"), "text", "Token or sentence embeddings.",
             pipeline="feature_extraction:FeatureExtractionPipeline",
             metric="cosine", metric_floor={"fp32": 0.99999, "fp16": 0.999, "int8": 0.99},
             cli_options=(CliOption("--normalize", "normalize", bool, "Sentence embeddings, L2-normalised."),
                          CliOption("--pooling", "pooling", str,
                                    "Sentence embeddings: mean | cls | max | mean_sqrt_len_tokens | weightedmean | "
                                    "lasttoken (comma-separated: concatenated)."))),
    TaskSpec("zero-shot-classification", ("zero-shot",), "text", "Classify a text into labels given at run time (NLI).",
             pipeline="zero_shot:ZeroShotClassificationPipeline",
             metric="ranked_label_agreement",
             cli_options=(CliOption("--labels", "candidate_labels", "csv", "Comma-separated candidate labels."),
                          CliOption("--multi-label", "multi_label", bool, "Labels are independent."),
                          CliOption("--hypothesis-template", "hypothesis_template", str, "e.g. 'This text is about {}.'"))),
    TaskSpec("multiple-choice", ("choice",), "text", "Score N choices for a prompt.",
             pipeline="multiple_choice:MultipleChoicePipeline",
             metric="ranked_label_agreement",
             cli_options=(CliOption("--choices", "choices", "csv", "Comma-separated choices."),)),
    TaskSpec("text-generation", ("generate",), "text", "Continue a prompt (decoder-only, KV cache).",
             pipeline="generation:TextGenerationPipeline",
             metric="token_equality", typical_dims=GEN_TYPICAL,
             cli_options=(*GEN_OPTIONS, CliOption("--chat", "chat", bool,
                                                  "Send the input as a user message through the model's chat template "
                                                  "and print the assistant's reply."))),
    TaskSpec("text2text-generation", ("text2text",), "text", "Encoder-decoder generation from a text.",
             pipeline="generation:Text2TextGenerationPipeline",
             metric="token_equality", cli_options=GEN_OPTIONS, typical_dims=GEN_TYPICAL),
    TaskSpec("summarization", ("summarize",), "text", "Summarize a text (encoder-decoder).",
             pipeline="generation:SummarizationPipeline",
             metric="token_equality", cli_options=GEN_OPTIONS, typical_dims=GEN_TYPICAL),
    TaskSpec("translation", ("translate",), "text", "Translate a text (encoder-decoder).",
             pipeline="generation:TranslationPipeline",
             metric="token_equality", cli_options=GEN_OPTIONS, typical_dims=GEN_TYPICAL),
    TaskSpec("image-classification", ("classify-image",), "image", "Label an image (ViT, ConvNeXT).",
             pipeline="image_classification:ImageClassificationPipeline",
             metric="label_agreement", input_kind="image", cli_options=(TOP_K,)),
    TaskSpec("object-detection", ("detect",), "image", "Boxes, labels and scores (DETR, YOLO-style).",
             pipeline="object_detection:ObjectDetectionPipeline",
             metric="detection_map", input_kind="image",
             cli_options=(THRESHOLD, SAVE,
                          CliOption("--iou-threshold", "iou_threshold", float, "YOLO-style NMS: IoU above which a box is dropped (0.45)."),
                          CliOption("--max-detections", "max_detections", int, "YOLO-style: most boxes per image (100).")),
             export_options=(CliOption("--nms-in-graph", "nms_in_graph", bool,
                                       "YOLO-style detectors: put NMS in the ONNX graph (NonMaxSuppression)."),)),
    TaskSpec("image-segmentation", ("segment",), "image", "Per-class masks (SegFormer, mask classification).",
             pipeline="image_segmentation:ImageSegmentationPipeline",
             metric="mean_iou", metric_floor={"fp32": 0.999, "fp16": 0.95, "int8": 0.8},
             input_kind="image",
             cli_options=(THRESHOLD, SAVE, CliOption("--subtask", "subtask", str,
                                                     "panoptic | instance | semantic (mask-classification models; default: the model's)"))),
    TaskSpec("depth-estimation", ("depth",), "image", "Per-pixel depth (GLPN, DPT).",
             pipeline="depth_estimation:DepthEstimationPipeline",
             metric="depth_abs_rel", metric_floor={"fp32": 0.9999, "fp16": 0.98, "int8": 0.9},
             input_kind="image", cli_options=(SAVE,)),
    TaskSpec("image-to-text", ("caption",), "multimodal", "Describe an image (vision encoder-decoder).",
             pipeline="generation:ImageToTextPipeline",
             metric="token_equality", input_kind="image", cli_options=GEN_OPTIONS,
             typical_dims=GEN_TYPICAL),
    TaskSpec("audio-classification", ("classify-audio",), "audio", "Label an audio clip (Wav2Vec2).",
             pipeline="audio:AudioClassificationPipeline",
             metric="label_agreement", input_kind="audio", cli_options=(TOP_K,)),
    TaskSpec("automatic-speech-recognition", ("asr",), "audio", "Transcribe speech (Wav2Vec2 CTC, Whisper).",
             pipeline="audio:SpeechRecognitionPipeline",
             metric="transcript_similarity", input_kind="audio",
             cli_options=(CliOption("--return-timestamps", "return_timestamps", str, "char | word"),
                          CliOption("--chunk-length-s", "chunk_length_s", float, "Chunk long audio (seconds)."),
                          MAX_NEW),
             typical_dims=GEN_TYPICAL),
]

TASKS: Registry[TaskSpec] = Registry("task", normalize=lambda k: str(k or "").strip().lower())
for _spec in _TASKS:
    TASKS.add(_spec.name, _spec, _spec.aliases)

# Read-only views kept for callers that index by canonical name / alias.
REGISTRY: dict[str, TaskSpec] = {t.name: t for t in _TASKS}
ALIASES: dict[str, str] = {str(a): str(k) for a, k in TASKS.aliases().items()}


def get_task(name: str) -> TaskSpec:
    """Resolve a canonical task name or alias, with a suggestion for typos."""
    return TASKS.get(name)


def all_tasks() -> list[TaskSpec]:
    return [spec for _, spec in TASKS.items()]
