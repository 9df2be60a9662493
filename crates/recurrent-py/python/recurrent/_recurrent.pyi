"""Type stubs of the compiled core (`recurrent.nn` and `recurrent.optim` are its Python face)."""

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

__version__: str

def set_threads(n: int) -> None: ...
def clip_grad_norm(layers: Sequence["Rnn"], max_norm: float) -> float: ...

class Rnn:
    training: bool
    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        dtype: str = "float32",
        seed: int = 0,
    ) -> None: ...
    @property
    def dtype(self) -> str: ...
    precision: str
    def config(self) -> str: ...
    def to(self, dtype: str) -> None: ...
    def forward(
        self,
        input: np.ndarray,
        h0: Optional[np.ndarray] = None,
        c0: Optional[np.ndarray] = None,
        lengths: Optional[Sequence[int]] = None,
    ) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]: ...
    def backward(
        self,
        grad_output: np.ndarray,
        grad_h_n: Optional[np.ndarray] = None,
        grad_c_n: Optional[np.ndarray] = None,
    ) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]: ...
    def parameters(self) -> List[Tuple[str, np.ndarray]]: ...
    def names(self) -> List[str]: ...
    def parameter(self, name: str, grad: bool = False) -> np.ndarray: ...
    def set_parameter(self, name: str, value: np.ndarray) -> None: ...
    def zero_grad(self) -> None: ...

class Optimizer:
    lr: float
    def __init__(self, config: str, layers: int) -> None: ...
    def step(self, layers: Sequence[Rnn]) -> None: ...

class LanguageModel:
    path: str
    @property
    def vocab(self) -> List[str]: ...
    def sample(
        self,
        prime: Optional[str] = None,
        n: int = 500,
        temperature: float = 1.0,
        seed: int = 0,
        top_k: int = 0,
        top_p: float = 1.0,
    ) -> str: ...
    def loss(self, text: str) -> float: ...

class Classifier:
    path: str
    @property
    def labels(self) -> List[str]: ...
    def predict(
        self, texts: Sequence[str], max_words: Optional[int] = None
    ) -> Tuple[List[str], List[List[float]]]: ...

class Tagger:
    path: str
    @property
    def tags(self) -> List[str]: ...
    def tag(
        self, sentences: Sequence[Union[str, Sequence[str]]], max_tokens: Optional[int] = None
    ) -> List[List[Tuple[str, str]]]: ...

class Translator:
    path: str
    def translate(
        self,
        texts: Sequence[str],
        beam: Optional[int] = None,
        length_alpha: Optional[float] = None,
        max_tokens: int = 100,
    ) -> List[str]: ...

class Composer:
    path: str
    def compose(
        self,
        meter: Optional[str] = None,
        key: Optional[str] = None,
        n: int = 1,
        title: Optional[str] = None,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int = 0,
    ) -> List[str]: ...

class Forecaster:
    path: str
    @property
    def columns(self) -> List[str]: ...
    @property
    def horizon(self) -> int: ...
    def forecast(
        self,
        data: Any,
        horizon: Optional[int] = None,
        dates: Optional[Sequence[str]] = None,
        fill: Optional[str] = None,
    ) -> Dict[str, List[Any]]: ...

class Transcriber:
    path: str
    @property
    def task(self) -> str: ...
    def transcribe(
        self,
        recordings: Any,
        sample_rate: Optional[int] = None,
        beam: Optional[int] = None,
    ) -> Any: ...

def load(
    path: str,
    precision: Optional[str] = None,
) -> Union[LanguageModel, Classifier, Tagger, Translator, Composer, Forecaster, Transcriber]: ...
def train(
    task: str,
    settings: str,
    out: Optional[str] = None,
    steps: Optional[int] = None,
    time_budget: Optional[float] = None,
    epochs: Optional[float] = None,
    resume: bool = False,
) -> Tuple[str, str]: ...
