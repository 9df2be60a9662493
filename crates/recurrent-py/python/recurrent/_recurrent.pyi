"""Type stubs of the compiled core (`recurrent.nn` and `recurrent.optim` are its Python face)."""

from typing import List, Optional, Sequence, Tuple

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

def load_language_model(path: str) -> LanguageModel: ...
def train_lm(
    text: str,
    out: str,
    settings: str,
    steps: Optional[int] = None,
    time_budget: Optional[float] = None,
    epochs: Optional[float] = None,
    resume: bool = False,
) -> str: ...
